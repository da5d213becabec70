"""The physical cabinet: doors and locks, pieces on load cells, air temperature.

State advances lazily: every read or action first integrates up to the clock's `now()`.
Board events (door opened, lock released …) are latched here for the lock board to report.
"""

from __future__ import annotations

import math
import random
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

from firmware_sim.clock import SimClock
from firmware_sim.layout import Layout, catalog
from protocols.serial.commands import BoardEvent, BoardEventKind

SETTLE_S = 1.5  # a load cell rings this long after the door or the load moves
NOISE_G = 0.8  # reading noise once settled
RINGING_G = 25.0  # reading noise while settling
DRIFT_G_PER_H = 0.6
CREEP_TAU_S = 60.0  # a creeping cell moves by its creep with this time constant after a load change
DOOR_LEAK_PER_S = 1 / 90  # door open: air exchange towards ambient
CLOSED_LEAK_PER_S = 1 / 7200
COOLING_C_PER_S = 0.02
HYSTERESIS_C = 1.0
AMBIENT_SWING_C = 4.0  # the layout's ambient is the daily mean; warmest at 15:00, coolest at 03:00
WARMEST_HOUR = 15.0


def ambient_at(mean_c: float, hour: float) -> float:
    """Air temperature around the cabinet at a local hour of the day."""
    return mean_c + AMBIENT_SWING_C * math.cos(2 * math.pi * (hour - WARMEST_HOUR) / 24)


def local_seconds_of_day() -> float:
    now = datetime.now().astimezone()
    return now.hour * 3600 + now.minute * 60 + now.second


class WorldError(Exception):
    """A world-control action that cannot happen physically (HTTP 409)."""


@dataclass
class Door:
    open: bool = False
    released_until: float = -1.0  # lock released while now < released_until
    engaged: bool = True
    tag: int = 0  # session tag of the unlock that released it (0 if none)
    pulsed_at: float | None = None  # wall-clock time of the last unlock pulse (benchmarks time it)
    forced: bool = False
    stuck: bool = False


@dataclass
class LoadCell:
    door: int
    tray_g: float
    pieces: dict[int, list[float]]  # lane → weights of the pieces on it
    skus: dict[int, str]
    loose: dict[str, list[float]] = field(default_factory=dict)  # pieces left here without a lane, by sku
    settle_until: float = 0.0
    drift_sign: float = 1.0
    dead: bool = False
    # A failing cell (firmware_sim/faults.py): the zero walks, the reading creeps after a load change.
    fault_drift_g: float = 0.0  # zero moved by the injected drift so far
    fault_drift_g_per_h: float = 0.0
    fault_drift_at: float = 0.0  # when fault_drift_g was last brought up to date
    creep_g: float = 0.0
    loaded_at: float = -math.inf
    extra_noise_g: float = 0.0

    def injected(self, now: float) -> float:
        """Grams the failing cell adds to the truth at `now`."""
        self.fault_drift_g += self.fault_drift_g_per_h * (now - self.fault_drift_at) / 3600
        self.fault_drift_at = now
        return self.fault_drift_g + self.creep_g * (1 - math.exp(-(now - self.loaded_at) / CREEP_TAU_S))

    def true_grams(self) -> float:
        placed = [*self.pieces.values(), *self.loose.values()]
        return self.tray_g + sum(sum(p) for p in placed)

    def pile(self, sku: str) -> list[float]:
        """Where pieces of `sku` lie on this shelf: its lane, or loose if it has none."""
        lane = next((n for n, s in self.skus.items() if s == sku), None)
        return self.pieces[lane] if lane is not None else self.loose.setdefault(sku, [])


@dataclass
class World:
    layout: Layout
    clock: SimClock
    rng: random.Random
    doors: list[Door]
    cells: dict[int, LoadCell]
    temps_c: list[float]
    compressor_on: bool = False  # the relay: on when the controller asks for cold
    compressor_ok: bool = True  # a failed compressor runs on demand and cools nothing
    setpoint_c: float | None = None
    day_start_s: float = 0.0  # local time of day when the simulation started
    events: list[BoardEvent] = field(default_factory=list)
    boot_real_ms: int = 0
    _last: float = 0.0
    lock: threading.RLock = field(default_factory=threading.RLock)
    hand: dict[str, list[float]] = field(default_factory=dict)  # pieces taken out, by sku

    @classmethod
    def build(cls, layout: Layout, clock: SimClock, seed: int) -> World:
        rng = random.Random(seed)
        cells = {
            c.channel: LoadCell(
                door=c.door,
                tray_g=c.tray_g,
                pieces={
                    lane.lane: [piece_weight(rng, lane.sku) for _ in range(lane.count)] for lane in c.lanes
                },
                skus={lane.lane: lane.sku for lane in c.lanes},
                drift_sign=rng.choice((-1.0, 1.0)),
            )
            for c in layout.channels
        }
        probes = sum(b.count for b in layout.boards_of("climate"))
        start_c = layout.setpoint_c if layout.setpoint_c is not None else layout.ambient_c
        return cls(
            layout=layout,
            clock=clock,
            rng=rng,
            doors=[Door() for _ in range(layout.doors)],
            cells=cells,
            temps_c=[start_c + rng.uniform(-0.3, 0.3) for _ in range(probes)],
            setpoint_c=layout.setpoint_c,
            day_start_s=local_seconds_of_day(),
        )

    # -- time ------------------------------------------------------------------------------

    def now(self) -> float:
        return self.clock.now()

    def uptime_ms(self) -> int:
        # A board's uptime counts real milliseconds even when the world runs faster.
        return self.clock.real_ms() - self.boot_real_ms

    def hour(self) -> float:
        """Local hour of the day in simulated time (0 ≤ hour < 24)."""
        return (self.day_start_s + self.now()) / 3600 % 24

    def ambient_c(self) -> float:
        return ambient_at(self.layout.ambient_c, self.hour())

    def advance(self) -> None:
        """Integrate temperatures and lock timers up to now."""
        with self.lock:
            now = self.now()
            while self._last < now:
                dt = min(1.0, now - self._last)
                self._step_climate(dt)
                self._last += dt
            for number, door in enumerate(self.doors):
                if not door.engaged and now >= door.released_until and not door.open:
                    self._engage(number, door)

    def _step_climate(self, dt: float) -> None:
        ambient = ambient_at(self.layout.ambient_c, (self.day_start_s + self._last) / 3600 % 24)
        any_open = any(d.open for d in self.doors)
        leak = DOOR_LEAK_PER_S if any_open else CLOSED_LEAK_PER_S
        for i, t in enumerate(self.temps_c):
            cooling = COOLING_C_PER_S if self.compressor_on and self.compressor_ok else 0.0
            self.temps_c[i] = t + (ambient - t) * leak * dt - cooling * dt
        if self.setpoint_c is not None and self.temps_c:
            warmest = max(self.temps_c)
            if warmest > self.setpoint_c + HYSTERESIS_C:
                self.compressor_on = True
            elif warmest < self.setpoint_c - HYSTERESIS_C:
                self.compressor_on = False

    # -- doors and locks -------------------------------------------------------------------

    def latch(self, kind: BoardEventKind, door: int, tag: int) -> None:
        self.events.append(BoardEvent(kind, door, tag, self.uptime_ms()))

    def release(self, door: int, pulse_ms: int, tag: int) -> None:
        with self.lock:
            self.advance()
            d = self.doors[door]
            # People react in real time: the pulse lasts its real duration at any sim speed.
            d.released_until = self.now() + pulse_ms / 1000 * self.clock.speed
            d.tag = tag
            d.pulsed_at = time.time()
            if d.engaged:
                d.engaged = False
                self.latch(BoardEventKind.LOCK_RELEASED, door, tag)

    def _engage(self, number: int, door: Door) -> None:
        door.engaged = True
        self.latch(BoardEventKind.LOCK_ENGAGED, number, door.tag)
        door.tag = 0

    def open_door(self, number: int, force: bool = False) -> None:
        with self.lock:
            self.advance()
            door = self._door(number)
            if door.open:
                raise WorldError(f"door {number} is already open")
            if door.engaged and not force:
                raise WorldError(f"door {number} is locked; unlock it first or force it")
            door.open, door.forced = True, door.engaged
            if door.forced:
                self.latch(BoardEventKind.DOOR_FORCED, number, 0)
            else:
                self.latch(BoardEventKind.DOOR_OPENED, number, door.tag)
            self._shake(number)

    def close_door(self, number: int) -> None:
        with self.lock:
            self.advance()
            door = self._door(number)
            if not door.open:
                raise WorldError(f"door {number} is already closed")
            door.open = False
            self.latch(BoardEventKind.DOOR_CLOSED, number, 0 if door.forced else door.tag)
            door.forced = False
            self._shake(number)
            self.advance()  # a finished pulse engages the lock as the door shuts

    def _door(self, number: int) -> Door:
        if not 0 <= number < len(self.doors):
            raise WorldError(f"no door {number}; this cabinet has {len(self.doors)}")
        return self.doors[number]

    def _shake(self, door: int) -> None:
        for cell in self.cells.values():
            if cell.door == door:
                cell.settle_until = self.now() + SETTLE_S

    # -- items -----------------------------------------------------------------------------

    def take(self, channel: int, sku: str, count: int) -> None:
        with self.lock:
            cell = self._reachable(channel)
            pieces = cell.pile(sku)
            if count > len(pieces):
                raise WorldError(f"channel {channel} has {len(pieces)} × {sku}, cannot take {count}")
            for _ in range(count):
                taken = pieces.pop(self.rng.randrange(len(pieces)))
                self.hand.setdefault(sku, []).append(taken)
            cell.settle_until = cell.loaded_at = self.now() + SETTLE_S

    def put(self, channel: int, sku: str, count: int) -> None:
        """Put pieces back (the very ones taken, if any) or load new ones; on a shelf without a
        lane for `sku` they lie loose, and its load cell simply weighs them."""
        with self.lock:
            cell = self._reachable(channel)
            if sku not in catalog():
                raise WorldError(f"no product {sku}")
            held = self.hand.get(sku, [])
            for _ in range(count):
                cell.pile(sku).append(held.pop() if held else piece_weight(self.rng, sku))
            cell.settle_until = cell.loaded_at = self.now() + SETTLE_S

    def _reachable(self, channel: int) -> LoadCell:
        cell = self.cells.get(channel)
        if cell is None:
            raise WorldError(f"no scale channel {channel}")
        if not self.doors[cell.door].open:
            raise WorldError(f"door {cell.door} of channel {channel} is closed")
        return cell

    # -- sensors ---------------------------------------------------------------------------

    def reading_g(self, channel: int) -> tuple[float, bool]:
        """(gross grams as the load cell sees them, stable?)."""
        cell = self.cells[channel]
        now = self.now()
        settling = now < cell.settle_until
        drift = cell.drift_sign * DRIFT_G_PER_H * now / 3600
        noise = self.rng.gauss(0, math.hypot(RINGING_G if settling else NOISE_G, cell.extra_noise_g))
        return cell.true_grams() + drift + cell.injected(now) + noise, not settling

    def failing_cells(
        self, drift: dict[int, float], creep: dict[int, float], noise: dict[int, float]
    ) -> None:
        """Apply the failing-cell faults from now on."""
        now = self.now()
        for channel, cell in self.cells.items():
            cell.injected(now)  # the zero walked so far stays walked
            cell.fault_drift_g_per_h = drift.get(channel, 0.0)
            cell.creep_g = creep.get(channel, 0.0)
            cell.extra_noise_g = noise.get(channel, 0.0)

    def serviced(self, channel: int) -> None:
        """Staff emptied, reseated and tared the shelf: its injected drift is gone."""
        cell = self.cells[channel]
        cell.fault_drift_g = cell.fault_drift_g_per_h = 0.0


def piece_weight(rng: random.Random, sku: str) -> float:
    """One piece's weight: products vary within their stated tolerance."""
    product = catalog()[sku]
    spread = product.tolerance_g
    return product.unit_weight_g + max(-spread, min(spread, rng.gauss(0, spread / 2.5)))
