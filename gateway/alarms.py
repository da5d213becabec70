"""Alarm bookkeeping: one raised alarm per condition, cleared once, never a storm."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from protocols.mqtt.schemas import AlarmKind

Emit = Callable[[AlarmKind, str, dict[str, Any]], None]


class Alarms:
    def __init__(self, emit: Emit) -> None:
        self._emit = emit  # (kind, "raised" | "cleared", fields)
        self._raised: set[tuple[str, Any]] = set()
        self._said: set[tuple[str, Any]] = set()  # conditions `judged` at least once

    def raise_(self, kind: AlarmKind, key: Any = None, **fields: Any) -> None:
        if (kind, key) not in self._raised:
            self._raised.add((kind, key))
            self._emit(kind, "raised", fields)

    def clear(self, kind: AlarmKind, key: Any = None, **fields: Any) -> None:
        if (kind, key) in self._raised:
            self._raised.discard((kind, key))
            self._emit(kind, "cleared", fields)

    def set(self, active: bool, kind: AlarmKind, key: Any = None, **fields: Any) -> None:
        (self.raise_ if active else self.clear)(kind, key, **fields)

    def judged(self, active: bool, kind: AlarmKind, key: Any = None, **fields: Any) -> None:
        """Like `set`, for a condition judged afresh after a restart: its first verdict is sent even
        when clear, since this process cannot know whether the one before raised it."""
        if not active and (kind, key) not in self._said:
            self._raised.add((kind, key))
        self._said.add((kind, key))
        self.set(active, kind, key, **fields)
