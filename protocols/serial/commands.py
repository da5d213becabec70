"""The board command set: codes, payload layouts and typed messages (sans-IO).

Every message is a frozen dataclass; `encode_message` gives (command code, payload) and
`decode_message` turns a code and payload back into a message or raises `PayloadError`.
Layouts are little-endian and documented in protocols/SERIAL.md.
"""

from __future__ import annotations

import dataclasses
import enum
import struct
from dataclasses import dataclass
from typing import Any, ClassVar, TypeAlias

from protocols import ProtocolError


class Command(enum.IntEnum):
    PING = 0x01
    GET_INFO = 0x02
    GET_STATUS = 0x03
    UNLOCK = 0x04
    READ_WEIGHTS = 0x05
    TARE = 0x06
    CALIBRATE = 0x07
    READ_CLIMATE = 0x08
    SET_SETPOINT = 0x09
    # Answers: a data answer is its request's code | 0x80.
    INFO = 0x82
    STATUS = 0x83
    WEIGHTS = 0x85
    CLIMATE = 0x88
    ACK = 0xF0
    NACK = 0xF1


class NackCode(enum.IntEnum):
    UNKNOWN_COMMAND = 1
    BAD_LENGTH = 2
    BAD_ARGUMENT = 3
    NOT_SUPPORTED = 4  # the command exists but not on this board type
    HARDWARE_FAULT = 5  # e.g. a stuck lock or a dead load cell
    BUSY = 6


class BoardType(enum.IntEnum):
    LOCK = 1
    SCALE = 2
    CLIMATE = 3


class BoardEventKind(enum.IntEnum):
    DOOR_OPENED = 1
    DOOR_CLOSED = 2
    LOCK_RELEASED = 3
    LOCK_ENGAGED = 4
    DOOR_FORCED = 5  # opened while the lock was engaged


class PayloadError(ProtocolError):
    """A frame whose payload does not fit its command's layout."""


STATUS_FAULT = 0x01  # the board has a hardware fault
STATUS_REBOOTED = 0x02  # first status since power-on: latched events were lost
STATUS_MORE_EVENTS = 0x04  # more latched events than fit; poll again

DOOR_RELEASED = 0x01
DOOR_OPEN = 0x02
DOOR_LOCK_FAULT = 0x04

ALL_CHANNELS = 0xFF
PROBE_FAULT = -32768
MAX_EVENTS_PER_STATUS = 24


@dataclass(frozen=True, slots=True)
class Ping:
    command: ClassVar[Command] = Command.PING


@dataclass(frozen=True, slots=True)
class GetInfo:
    command: ClassVar[Command] = Command.GET_INFO


@dataclass(frozen=True, slots=True)
class GetStatus:
    command: ClassVar[Command] = Command.GET_STATUS


@dataclass(frozen=True, slots=True)
class Unlock:
    command: ClassVar[Command] = Command.UNLOCK
    door: int
    pulse_ms: int
    session_tag: int  # echoed in the door events this unlock causes


@dataclass(frozen=True, slots=True)
class ReadWeights:
    command: ClassVar[Command] = Command.READ_WEIGHTS


@dataclass(frozen=True, slots=True)
class Tare:
    command: ClassVar[Command] = Command.TARE
    channel: int  # ALL_CHANNELS for every channel


@dataclass(frozen=True, slots=True)
class Calibrate:
    command: ClassVar[Command] = Command.CALIBRATE
    channel: int
    known_mg: int  # the mass now on the channel


@dataclass(frozen=True, slots=True)
class ReadClimate:
    command: ClassVar[Command] = Command.READ_CLIMATE


@dataclass(frozen=True, slots=True)
class SetSetpoint:
    command: ClassVar[Command] = Command.SET_SETPOINT
    centi_celsius: int


@dataclass(frozen=True, slots=True)
class Ack:
    command: ClassVar[Command] = Command.ACK


@dataclass(frozen=True, slots=True)
class Nack:
    command: ClassVar[Command] = Command.NACK
    code: NackCode


@dataclass(frozen=True, slots=True)
class Info:
    command: ClassVar[Command] = Command.INFO
    board_type: BoardType
    firmware: tuple[int, int, int]
    count: int  # doors, scale channels or temperature probes
    serial_number: str


@dataclass(frozen=True, slots=True)
class DoorState:
    released: bool
    open: bool
    lock_fault: bool = False


@dataclass(frozen=True, slots=True)
class BoardEvent:
    kind: BoardEventKind
    index: int  # door number
    session_tag: int  # 0 when no unlock caused it
    at_ms: int  # board uptime when it happened


@dataclass(frozen=True, slots=True)
class Status:
    command: ClassVar[Command] = Command.STATUS
    flags: int
    uptime_ms: int
    doors: tuple[DoorState, ...] = ()
    events: tuple[BoardEvent, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelWeight:
    milligrams: int
    stable: bool
    fault: bool = False


@dataclass(frozen=True, slots=True)
class Weights:
    command: ClassVar[Command] = Command.WEIGHTS
    channels: tuple[ChannelWeight, ...]


@dataclass(frozen=True, slots=True)
class Climate:
    command: ClassVar[Command] = Command.CLIMATE
    probes_centi_celsius: tuple[int | None, ...]  # None: probe fault
    compressor_on: bool
    setpoint_centi_celsius: int


Request: TypeAlias = (
    Ping | GetInfo | GetStatus | Unlock | ReadWeights | Tare | Calibrate | ReadClimate | SetSetpoint
)
Answer: TypeAlias = Ack | Nack | Info | Status | Weights | Climate
Message: TypeAlias = Request | Answer

REQUESTS: tuple[type[Request], ...] = (
    Ping, GetInfo, GetStatus, Unlock, ReadWeights, Tare, Calibrate, ReadClimate, SetSetpoint,
)  # fmt: skip
ANSWERS: tuple[type[Answer], ...] = (Ack, Nack, Info, Status, Weights, Climate)
MESSAGE_TYPES: dict[Command, type[Message]] = {t.command: t for t in (*REQUESTS, *ANSWERS)}

# Longest payload each command may carry; the frame decoder rejects longer ones at once.
MAX_PAYLOAD: dict[int, int] = {
    Command.PING: 0, Command.GET_INFO: 0, Command.GET_STATUS: 0, Command.UNLOCK: 7,
    Command.READ_WEIGHTS: 0, Command.TARE: 1, Command.CALIBRATE: 5, Command.READ_CLIMATE: 0,
    Command.SET_SETPOINT: 2, Command.ACK: 0, Command.NACK: 1, Command.INFO: 255,
    Command.STATUS: 255, Command.WEIGHTS: 255, Command.CLIMATE: 255,
}  # fmt: skip
UNKNOWN_COMMAND_MAX_PAYLOAD = 64

_EMPTY: dict[Command, type[Ping | GetInfo | GetStatus | ReadWeights | ReadClimate | Ack]] = {
    m.command: m for m in (Ping, GetInfo, GetStatus, ReadWeights, ReadClimate, Ack)
}
_UNLOCK = struct.Struct("<BHI")
_CALIBRATE = struct.Struct("<BI")
_SETPOINT = struct.Struct("<h")
_INFO_HEAD = struct.Struct("<BBBBB")
_STATUS_HEAD = struct.Struct("<BIB")
_EVENT = struct.Struct("<BBII")
_WEIGHT = struct.Struct("<Bi")
_PROBE = struct.Struct("<h")
_CLIMATE_TAIL = struct.Struct("<Bh")


def encode_message(message: Message) -> tuple[int, bytes]:
    """(command code, payload) of a message; ValueError for out-of-range fields."""
    try:
        return int(message.command), _encode_payload(message)
    except struct.error as exc:
        raise ValueError(f"{type(message).__name__}: {exc}") from exc


def _encode_payload(m: Message) -> bytes:
    match m:
        case Unlock(door, pulse_ms, tag):
            return _UNLOCK.pack(door, pulse_ms, tag)
        case Tare(channel):
            return bytes((channel,))
        case Calibrate(channel, known_mg):
            return _CALIBRATE.pack(channel, known_mg)
        case SetSetpoint(centi):
            return _SETPOINT.pack(centi)
        case Nack(code):
            return bytes((code,))
        case Info(board_type, firmware, count, serial_number):
            return _INFO_HEAD.pack(board_type, *firmware, count) + serial_number.encode("ascii")
        case Status(flags, uptime_ms, doors, events):
            return _encode_status(flags, uptime_ms, doors, events)
        case Weights(channels):
            return bytes((len(channels),)) + b"".join(
                _WEIGHT.pack(c.stable | c.fault << 1, c.milligrams) for c in channels
            )
        case Climate(probes, compressor_on, setpoint):
            return (
                bytes((len(probes),))
                + b"".join(_PROBE.pack(PROBE_FAULT if p is None else p) for p in probes)
                + _CLIMATE_TAIL.pack(compressor_on, setpoint)
            )
    return b""


def _encode_status(
    flags: int, uptime_ms: int, doors: tuple[DoorState, ...], events: tuple[BoardEvent, ...]
) -> bytes:
    if len(events) > MAX_EVENTS_PER_STATUS:
        raise ValueError(f"at most {MAX_EVENTS_PER_STATUS} events fit in one status")
    door_bytes = bytes(
        d.released * DOOR_RELEASED | d.open * DOOR_OPEN | d.lock_fault * DOOR_LOCK_FAULT for d in doors
    )
    event_bytes = b"".join(_EVENT.pack(e.kind, e.index, e.session_tag, e.at_ms & 0xFFFFFFFF) for e in events)
    return (
        _STATUS_HEAD.pack(flags, uptime_ms & 0xFFFFFFFF, len(doors))
        + door_bytes
        + bytes((len(events),))
        + event_bytes
    )


def decode_message(cmd: int, payload: bytes) -> Message:
    """The message a command code and payload carry; PayloadError if they do not fit."""
    try:
        command = Command(cmd)
    except ValueError:
        raise PayloadError(f"unknown command 0x{cmd:02x}") from None
    try:
        return _decode_payload(command, payload)
    except (struct.error, ValueError, IndexError, UnicodeDecodeError) as exc:
        raise PayloadError(f"{command.name} payload {payload.hex()}: {exc}") from exc


def _expect_length(command: Command, payload: bytes, size: int) -> None:
    if len(payload) != size:
        raise PayloadError(f"{command.name} wants {size} payload bytes, got {len(payload)}")


def _decode_payload(command: Command, payload: bytes) -> Message:
    fixed: dict[Command, int] = {
        Command.UNLOCK: _UNLOCK.size, Command.TARE: 1, Command.CALIBRATE: _CALIBRATE.size,
        Command.SET_SETPOINT: _SETPOINT.size, Command.NACK: 1,
    }  # fmt: skip
    _expect_length(command, payload, fixed.get(command, len(payload)))
    match command:
        case Command.UNLOCK:
            return Unlock(*_UNLOCK.unpack(payload))
        case Command.TARE:
            return Tare(payload[0])
        case Command.CALIBRATE:
            return Calibrate(*_CALIBRATE.unpack(payload))
        case Command.SET_SETPOINT:
            return SetSetpoint(_SETPOINT.unpack(payload)[0])
        case Command.NACK:
            return Nack(NackCode(payload[0]))
        case Command.INFO:
            return _decode_info(payload)
        case Command.STATUS:
            return _decode_status(payload)
        case Command.WEIGHTS:
            return _decode_weights(payload)
        case Command.CLIMATE:
            return _decode_climate(payload)
    _expect_length(command, payload, 0)
    return _EMPTY[command]()


def _decode_info(payload: bytes) -> Info:
    board_type, major, minor, patch, count = _INFO_HEAD.unpack_from(payload)
    serial_number = payload[_INFO_HEAD.size :].decode("ascii")
    return Info(BoardType(board_type), (major, minor, patch), count, serial_number)


def _decode_status(payload: bytes) -> Status:
    flags, uptime_ms, n_doors = _STATUS_HEAD.unpack_from(payload)
    at = _STATUS_HEAD.size
    doors = tuple(
        DoorState(bool(b & DOOR_RELEASED), bool(b & DOOR_OPEN), bool(b & DOOR_LOCK_FAULT))
        for b in payload[at : at + n_doors]
    )
    if len(doors) != n_doors:
        raise PayloadError(f"STATUS announces {n_doors} doors, carries {len(doors)}")
    at += n_doors
    n_events = payload[at]
    at += 1
    if len(payload) != at + n_events * _EVENT.size:
        raise PayloadError(f"STATUS announces {n_events} events, payload is {len(payload)} bytes")
    events = tuple(
        BoardEvent(BoardEventKind(kind), index, tag, at_ms)
        for kind, index, tag, at_ms in _EVENT.iter_unpack(payload[at:])
    )
    return Status(flags, uptime_ms, doors, events)


def _decode_weights(payload: bytes) -> Weights:
    n = payload[0]
    if len(payload) != 1 + n * _WEIGHT.size:
        raise PayloadError(f"WEIGHTS announces {n} channels, payload is {len(payload)} bytes")
    channels = tuple(
        ChannelWeight(mg, bool(flags & 1), bool(flags & 2)) for flags, mg in _WEIGHT.iter_unpack(payload[1:])
    )
    return Weights(channels)


def _decode_climate(payload: bytes) -> Climate:
    n = payload[0]
    if len(payload) != 1 + n * _PROBE.size + _CLIMATE_TAIL.size:
        raise PayloadError(f"CLIMATE announces {n} probes, payload is {len(payload)} bytes")
    raw = [v for (v,) in _PROBE.iter_unpack(payload[1 : 1 + n * _PROBE.size])]
    compressor, setpoint = _CLIMATE_TAIL.unpack_from(payload, 1 + n * _PROBE.size)
    probes = tuple(None if v == PROBE_FAULT else v for v in raw)
    return Climate(probes, bool(compressor), setpoint)


def message_to_dict(message: Message) -> dict[str, Any]:
    """A JSON-friendly view (used by the test vectors): enums by name, tuples as lists."""
    result = _jsonable(message)
    assert isinstance(result, dict)
    return result


def _jsonable(value: Any) -> Any:
    if isinstance(value, enum.Enum):
        return value.name
    if isinstance(value, tuple):
        return [_jsonable(v) for v in value]
    if dataclasses.is_dataclass(value):
        return {f.name: _jsonable(getattr(value, f.name)) for f in dataclasses.fields(value)}
    return value
