"""What the gateway last heard from every board: the basis of telemetry and of sessions."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from gateway.bus import BoardInfo
from protocols.mqtt.schemas import BoardHealth, ChannelReading, DoorReading, Telemetry
from protocols.serial.commands import BoardType, ChannelWeight, Climate, DoorState

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
