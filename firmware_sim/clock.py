"""Simulated time: monotonic time scaled by a speed factor, so a demo day passes in minutes."""

from __future__ import annotations

import time


class SimClock:
    def __init__(self, speed: float = 1.0) -> None:
        if speed <= 0:
            raise ValueError("speed must be positive")
        self.speed = speed
        self._real0 = time.monotonic()
        self._offset = 0.0  # seconds added by advance(), for tests

    def now(self) -> float:
        """Seconds of simulated time since the simulator started."""
        return (time.monotonic() - self._real0) * self.speed + self._offset

    def real_ms(self) -> int:
        """Milliseconds of real time: what a board's own uptime counter measures."""
        return int((time.monotonic() - self._real0) * 1000)

    def advance(self, seconds: float) -> None:
        """Jump simulated time forward (tests: let a door warm the cabinet without waiting)."""
        self._offset += seconds
