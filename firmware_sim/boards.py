"""The boards: plain classes answering decoded requests, as their firmware would."""

from __future__ import annotations

from dataclasses import dataclass, field

from firmware_sim.faults import Faults
from firmware_sim.layout import BoardSpec
from firmware_sim.world import World
from protocols.serial.commands import (
    ALL_CHANNELS,
    MAX_EVENTS_PER_STATUS,
    PROBE_FAULT,
    STATUS_FAULT,
    STATUS_MORE_EVENTS,
    STATUS_REBOOTED,
    Ack,
    Answer,
    BoardType,
    Calibrate,
    ChannelWeight,
    Climate,
    DoorState,
    GetInfo,
    GetStatus,
    Info,
    Nack,
    NackCode,
    Ping,
    ReadClimate,
    ReadWeights,
    Request,
    SetSetpoint,
    Status,
    Tare,
    Unlock,
    Weights,
)

BOARD_TYPES = {"lock": BoardType.LOCK, "scale": BoardType.SCALE, "climate": BoardType.CLIMATE}
ADC_LIMIT_MG = 2**31 - 1  # the i32 a WEIGHTS answer carries: the converter saturates there


@dataclass
class Board:
    spec: BoardSpec
    world: World
    faults: Faults
    rebooted: bool = True
    # (request bytes, answer bytes) of the last request executed: a retry is answered, not re-run.
    last: tuple[bytes, bytes] | None = None
    reported_events: int = 0

    def handle(self, request: Request) -> Answer:
        """The answer to one new (not repeated) request."""
        with self.world.lock:
            self.world.advance()
            self._forget_reported_events()
            match request:
                case Ping():
                    return Ack()
                case GetInfo():
                    s = self.spec
                    return Info(BOARD_TYPES[s.type], s.firmware, s.count, s.serial_number)
                case GetStatus():
                    return self._status()
            return self.handle_specific(request)

    def handle_specific(self, request: Request) -> Answer:
        return Nack(NackCode.NOT_SUPPORTED)

    def fault(self) -> bool:
        return False

    def _status(self) -> Status:
        events = tuple(self.latched()[:MAX_EVENTS_PER_STATUS])
        self.reported_events = len(events)
        flags = (
            STATUS_REBOOTED * self.rebooted
            | STATUS_FAULT * self.fault()
            | STATUS_MORE_EVENTS * (len(self.latched()) > len(events))
        )
        self.rebooted = False
        return Status(flags, self.world.uptime_ms(), self.door_states(), events)

    def _forget_reported_events(self) -> None:
        # Events leave the latch once a new request shows the last STATUS arrived.
        del self.latched()[: self.reported_events]
        self.reported_events = 0

    def latched(self) -> list:  # type: ignore[type-arg]
        return []

    def door_states(self) -> tuple[DoorState, ...]:
        return ()


@dataclass
class LockBoard(Board):
    first_door: int = 0

    def latched(self) -> list:  # type: ignore[type-arg]
        return self.world.events

    def door_states(self) -> tuple[DoorState, ...]:
        doors = self.world.doors[self.first_door : self.first_door + self.spec.count]
        return tuple(
            DoorState(
                released=not d.engaged,
                open=d.open,
                lock_fault=n + self.first_door in self.faults.stuck_locks,
            )
            for n, d in enumerate(doors)
        )

    def fault(self) -> bool:
        return bool(self.faults.stuck_locks)

    def handle_specific(self, request: Request) -> Answer:
        if not isinstance(request, Unlock):
            return Nack(NackCode.NOT_SUPPORTED)
        if not 0 <= request.door < self.spec.count:
            return Nack(NackCode.BAD_ARGUMENT)
        door = self.first_door + request.door
        if door in self.faults.stuck_locks:
            return Nack(NackCode.HARDWARE_FAULT)
        self.world.release(door, request.pulse_ms, request.session_tag)
        return Ack()


@dataclass
class ScaleBoard(Board):
    first_channel: int = 0
    tare_g: dict[int, float] = field(default_factory=dict)
    gain: dict[int, float] = field(default_factory=dict)
    last_read: dict[int, ChannelWeight] = field(default_factory=dict)  # what a stuck converter repeats

    def channels(self) -> range:
        return range(self.first_channel, self.first_channel + self.spec.count)

    def fault(self) -> bool:
        return any(c in self.faults.dead_channels for c in self.channels())

    def handle_specific(self, request: Request) -> Answer:
        match request:
            case ReadWeights():
                return Weights(tuple(self._read(c) for c in self.channels()))
            case Tare(channel):
                return self._tare(channel)
            case Calibrate(channel, known_mg):
                return self._calibrate(channel, known_mg)
        return Nack(NackCode.NOT_SUPPORTED)

    def _read(self, channel: int) -> ChannelWeight:
        if channel in self.faults.stuck_channels and channel in self.last_read:
            return self.last_read[channel]
        self.last_read[channel] = self._weight(channel)
        return self.last_read[channel]

    def _weight(self, channel: int) -> ChannelWeight:
        if channel in self.faults.dead_channels or channel not in self.world.cells:
            return ChannelWeight(self.world.rng.randrange(-(2**31), 2**31), False, True)
        gross, stable = self.world.reading_g(channel)
        net = (gross - self.tare_g.get(channel, self.world.cells[channel].tray_g)) * self.gain.get(
            channel, 1.0
        )
        milligrams = round(net * 1000)
        if abs(milligrams) > ADC_LIMIT_MG:  # saturated: an overload is a fault, not a number
            return ChannelWeight(max(-ADC_LIMIT_MG, min(ADC_LIMIT_MG, milligrams)), False, True)
        return ChannelWeight(milligrams, stable)

    def _local(self, channel: int) -> int | None:
        return self.first_channel + channel if 0 <= channel < self.spec.count else None

    def _tare(self, channel: int) -> Answer:
        targets = self.channels() if channel == ALL_CHANNELS else [self._local(channel)]
        if None in targets:
            return Nack(NackCode.BAD_ARGUMENT)
        for c in targets:
            if c in self.faults.dead_channels:
                return Nack(NackCode.HARDWARE_FAULT)
            if c in self.world.cells:
                self.world.serviced(c)
                self.faults.scale_drift.pop(c, None)
                self.tare_g[c] = self.world.reading_g(c)[0]
        return Ack()

    def _calibrate(self, channel: int, known_mg: int) -> Answer:
        c = self._local(channel)
        if c is None or known_mg <= 0:
            return Nack(NackCode.BAD_ARGUMENT)
        if c in self.faults.dead_channels or c not in self.world.cells:
            return Nack(NackCode.HARDWARE_FAULT)
        load = self.world.reading_g(c)[0] - self.tare_g.get(c, self.world.cells[c].tray_g)
        if load <= 1:
            return Nack(NackCode.BAD_ARGUMENT)  # nothing on the scale to calibrate with
        self.gain[c] = known_mg / 1000 / load
        return Ack()


@dataclass
class ClimateBoard(Board):
    def handle_specific(self, request: Request) -> Answer:
        match request:
            case ReadClimate():
                w = self.world
                probes = tuple(round(t * 100) for t in w.temps_c[: self.spec.count])
                setpoint = round((w.setpoint_c if w.setpoint_c is not None else 0) * 100)
                return Climate(probes, w.compressor_on, setpoint)
            case SetSetpoint(centi):
                if not -3000 <= centi <= 2500:
                    return Nack(NackCode.BAD_ARGUMENT)
                self.world.setpoint_c = centi / 100
                return Ack()
        return Nack(NackCode.NOT_SUPPORTED)


def build_boards(world: World, faults: Faults) -> dict[int, Board]:
    """Boards by address; doors and channels numbered across boards in address order."""
    boards: dict[int, Board] = {}
    first_door = first_channel = 0
    for spec in sorted(world.layout.boards, key=lambda b: b.addr):
        if spec.type == "lock":
            boards[spec.addr] = LockBoard(spec, world, faults, first_door=first_door)
            first_door += spec.count
        elif spec.type == "scale":
            boards[spec.addr] = ScaleBoard(spec, world, faults, first_channel=first_channel)
            first_channel += spec.count
        else:
            boards[spec.addr] = ClimateBoard(spec, world, faults)
    return boards


__all__ = ["PROBE_FAULT", "Board", "build_boards"]
