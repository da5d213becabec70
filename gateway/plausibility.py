"""A good CRC is not a true answer: check each answer against the request and the board (sans-IO).

A frame can pass its CRC and still be impossible: a STATUS from a scale board, a door event for a
door the board does not have, more channels than it has, a weight no load cell carries. Such an
answer is treated like a damaged one (dropped, counted with its reason, asked again): a broken or
lying board must never start or settle a session, nor break the telemetry the schemas bound.
"""

from __future__ import annotations

from dataclasses import dataclass

from protocols.serial.commands import (
    Ack,
    Answer,
    BoardType,
    Climate,
    GetInfo,
    GetStatus,
    Info,
    Nack,
    ReadClimate,
    ReadWeights,
    Request,
    Status,
    Weights,
)

# protocols/SERIAL.md: a board's kind is fixed by its address range.
ADDRESS_RANGES = {
    BoardType.LOCK: range(0x10, 0x20),
    BoardType.SCALE: range(0x20, 0x30),
    BoardType.CLIMATE: range(0x30, 0x40),
}
# Per board; 32 doors per lock board keeps two boards within the 64 doors telemetry carries.
MAX_COUNT = {BoardType.LOCK: 32, BoardType.SCALE: 50, BoardType.CLIMATE: 32}
MAX_MILLIGRAMS = 200_000_000  # 200 kg: beyond any shelf load cell
CENTI_C_RANGE = range(-5000, 10_001)  # -50 … 100 °C: air in a vending cabinet
MAX_SERIAL_NUMBER = 64

EXPECTED: dict[type[Request], type[Answer]] = {
    GetInfo: Info,
    GetStatus: Status,
    ReadWeights: Weights,
    ReadClimate: Climate,
}  # every other request is answered by ACK; any request may be NACKed


@dataclass(frozen=True, slots=True)
class Board:
    """What discovery learned about the board at an address."""

    kind: BoardType
    count: int  # doors, scale channels or probes


def problem(addr: int, board: Board | None, request: Request, answer: Answer) -> str | None:
    """Why this answer cannot be true, or None; `board` is None before discovery."""
    if not isinstance(answer, Nack | EXPECTED.get(type(request), Ack)):
        return "unexpected_answer"
    if isinstance(answer, Info):
        return _info_problem(addr, answer)
    if board is None:
        return None
    if isinstance(answer, Status):
        return _status_problem(board, answer)
    if isinstance(answer, Weights):
        return _weights_problem(board, answer)
    if isinstance(answer, Climate):
        return _climate_problem(board, answer)
    return None


def _info_problem(addr: int, info: Info) -> str | None:
    if addr not in ADDRESS_RANGES[info.board_type]:
        return "board_type_vs_address"
    if not 1 <= info.count <= MAX_COUNT[info.board_type]:
        return "board_count"
    if len(info.serial_number) > MAX_SERIAL_NUMBER:
        return "serial_number"
    return None


def _status_problem(board: Board, status: Status) -> str | None:
    doors = board.count if board.kind is BoardType.LOCK else 0
    if len(status.doors) != doors:
        return "door_count"
    if any(event.index >= doors for event in status.events):
        return "unknown_door"
    return None


def _weights_problem(board: Board, weights: Weights) -> str | None:
    if board.kind is not BoardType.SCALE:
        return "unexpected_answer"
    if len(weights.channels) != board.count:
        return "channel_count"
    # A faulted channel's value is nonsense by definition and is never used; a healthy one must fit.
    if any(not c.fault and abs(c.milligrams) > MAX_MILLIGRAMS for c in weights.channels):
        return "impossible_weight"
    return None


def _climate_problem(board: Board, climate: Climate) -> str | None:
    if board.kind is not BoardType.CLIMATE:
        return "unexpected_answer"
    if len(climate.probes_centi_celsius) != board.count:
        return "probe_count"
    readings = [p for p in climate.probes_centi_celsius if p is not None]
    if any(p not in CENTI_C_RANGE for p in [*readings, climate.setpoint_centi_celsius]):
        return "impossible_temperature"
    return None
