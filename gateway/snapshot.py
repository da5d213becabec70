"""What the gateway last heard from every board: the basis of telemetry and of sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.bus import BoardInfo
from protocols.mqtt.schemas import BoardHealth, ChannelReading, DoorReading, Telemetry
from protocols.serial.commands import BoardType, ChannelWeight, Climate, DoorState, Status

COUNT_MAX = 2**31 - 1  # telemetry counts are bounded; a year of a noisy line must not break it


@dataclass(frozen=True)
class Weight:
    grams: float
    stable: bool
    fault: bool
    at: datetime

    @classmethod
    def of(cls, channel: ChannelWeight, at: datetime) -> Weight:
        # A faulted channel reports nonsense (SERIAL.md): keep the flag, never the number.
        grams = 0.0 if channel.fault else channel.milligrams / 1000
        return cls(grams, channel.stable, channel.fault, at)

    def reading(self, channel: int) -> ChannelReading:
        return ChannelReading(
            channel=channel, grams=round(self.grams, 1), stable=self.stable, fault=self.fault
        )


@dataclass
class Snapshot:
    boards: dict[int, BoardInfo] = field(default_factory=dict)
    online: dict[int, bool] = field(default_factory=dict)
    doors: dict[int, DoorState] = field(default_factory=dict)
    weights: dict[int, Weight] = field(default_factory=dict)
    climate: Climate | None = None
    # What a door session may take as its baseline without reading the scales again (see
    # SessionRunner._polled_baseline): the latest stable reading of each channel, the doors closed at
    # the last poll, when each door last moved (opened, closed, or was first seen), when each was last
    # seen, the last tare.
    stable: dict[int, Weight] = field(default_factory=dict)
    closed: set[int] = field(default_factory=set)
    moved_at: dict[int, datetime] = field(default_factory=dict)
    door_seen_at: dict[int, datetime] = field(default_factory=dict)
    tared_at: datetime | None = None
    _uptime_ms: dict[int, int] = field(default_factory=dict)

    def weigh(self, channel: int, weight: Weight) -> None:
        self.weights[channel] = weight
        if weight.stable and not weight.fault:
            self.stable[channel] = weight

    def lock_status(self, board: BoardInfo, status: Status, at: datetime) -> None:
        """Door states as the lock board reports them (after its events were handled)."""
        if status.uptime_ms < self._uptime_ms.get(board.addr, 0):
            # The board restarted: the events it had latched (an open and close between polls) are
            # gone, so nothing before this moment proves its doors stayed closed.
            for i in range(board.count):
                self.door_moved(board.first + i, at)
        self._uptime_ms[board.addr] = status.uptime_ms
        for i, door in enumerate(status.doors):
            number = board.first + i
            self.doors[number] = door
            self.door_seen_at[number] = at
            if door.open or door.lock_fault:  # a released lock changes nothing until the door opens
                self.door_moved(number, at)
            else:
                self.closed.add(number)
                self.moved_at.setdefault(number, at)  # first sight: nothing known of before

    def door_moved(self, door: int, at: datetime) -> None:
        """The door was open or opened or closed at `at`: not known closed until polled so."""
        self.closed.discard(door)
        self.moved_at[door] = max(at, self.moved_at.get(door, at))

    def boards_of(self, kind: BoardType) -> list[BoardInfo]:
        return sorted((b for b in self.boards.values() if b.board_type is kind), key=lambda b: b.addr)

    def lock_board_of(self, door: int) -> BoardInfo | None:
        return next((b for b in self.boards_of(BoardType.LOCK) if b.first <= door < b.first + b.count), None)

    def door_count(self) -> int:
        return sum(b.count for b in self.boards_of(BoardType.LOCK))

    def telemetry(self, uptime_s: int, outbox_depth: int, errors: dict[int, tuple[int, int]]) -> Telemetry:
        climate = self.climate
        return Telemetry(
            temperatures_c=[None if p is None else p / 100 for p in climate.probes_centi_celsius]
            if climate
            else [],
            setpoint_c=climate.setpoint_centi_celsius / 100 if climate else None,
            compressor_on=climate.compressor_on if climate else None,
            doors=[
                DoorReading(door=n, open=d.open, locked=not d.released, lock_fault=d.lock_fault)
                for n, d in sorted(self.doors.items())
            ],
            weights=[w.reading(c) for c, w in sorted(self.weights.items())],
            boards=[
                BoardHealth(
                    addr=b.addr,
                    board_type=b.board_type.name.lower(),
                    online=self.online.get(b.addr, True),
                    errors=min(errors.get(b.addr, (0, 0))[0], COUNT_MAX),
                    retries=min(errors.get(b.addr, (0, 0))[1], COUNT_MAX),
                    firmware=b.firmware,
                    serial_number=b.serial_number,
                )
                for b in sorted(self.boards.values(), key=lambda b: b.addr)
            ],
            uptime_s=uptime_s,
            outbox_depth=outbox_depth,
        )
