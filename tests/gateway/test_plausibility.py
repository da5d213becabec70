"""Answers with a good CRC and impossible content are named, one reason each (sans-IO)."""

from __future__ import annotations

import pytest

from gateway.plausibility import Board, problem
from protocols.serial.commands import (
    Ack,
    Answer,
    BoardEvent,
    BoardEventKind,
    BoardType,
    ChannelWeight,
    Climate,
    DoorState,
    GetInfo,
    GetStatus,
    Info,
    Nack,
    NackCode,
    ReadClimate,
    ReadWeights,
    Request,
    Status,
    Tare,
    Unlock,
    Weights,
)

LOCK = Board(BoardType.LOCK, 2)
SCALE = Board(BoardType.SCALE, 2)
CLIMATE = Board(BoardType.CLIMATE, 1)
CLOSED = DoorState(False, False)
OK_WEIGHT = ChannelWeight(1_500_000, True)


def event(index: int) -> BoardEvent:
    return BoardEvent(BoardEventKind.DOOR_CLOSED, index, 7, 0)


@pytest.mark.parametrize(
    ("addr", "board", "request_", "answer", "reason"),
    [
        (0x10, LOCK, GetStatus(), Status(0, 1, (CLOSED, CLOSED)), None),
        (0x10, LOCK, GetStatus(), Status(0, 1, (CLOSED, CLOSED), (event(1),)), None),
        (0x10, LOCK, GetStatus(), Status(0, 1, (CLOSED, CLOSED), (event(2),)), "unknown_door"),
        (0x10, LOCK, GetStatus(), Status(0, 1, (CLOSED,)), "door_count"),
        (0x10, LOCK, Unlock(0, 500, 1), Ack(), None),
        (0x10, LOCK, Unlock(0, 500, 1), Nack(NackCode.BUSY), None),
        (0x10, LOCK, GetStatus(), Weights((OK_WEIGHT,)), "unexpected_answer"),
        (0x20, SCALE, ReadWeights(), Status(0, 1, (CLOSED,), (event(0),)), "unexpected_answer"),
        (0x20, SCALE, ReadWeights(), Weights((OK_WEIGHT, OK_WEIGHT)), None),
        (0x20, SCALE, ReadWeights(), Weights((OK_WEIGHT,) * 3), "channel_count"),
        (
            0x20,
            SCALE,
            ReadWeights(),
            Weights((OK_WEIGHT, ChannelWeight(2**31 - 1, True))),
            "impossible_weight",
        ),
        (0x20, SCALE, ReadWeights(), Weights((OK_WEIGHT, ChannelWeight(2**31 - 1, False, True))), None),
        (0x20, SCALE, Tare(0), Ack(), None),
        (0x10, LOCK, ReadWeights(), Weights((OK_WEIGHT, OK_WEIGHT)), "unexpected_answer"),
        (0x30, CLIMATE, ReadClimate(), Climate((420,), True, 400), None),
        (0x30, CLIMATE, ReadClimate(), Climate((None,), True, 400), None),
        (0x30, CLIMATE, ReadClimate(), Climate((420, 430), True, 400), "probe_count"),
        (0x30, CLIMATE, ReadClimate(), Climate((32000,), True, 400), "impossible_temperature"),
        (0x30, CLIMATE, ReadClimate(), Climate((420,), True, -20000), "impossible_temperature"),
        (0x10, None, GetInfo(), Info(BoardType.LOCK, (1, 0, 0), 2, "LK-1"), None),
        (0x10, None, GetInfo(), Info(BoardType.SCALE, (1, 0, 0), 2, "SC-1"), "board_type_vs_address"),
        (0x20, None, GetInfo(), Info(BoardType.SCALE, (1, 0, 0), 0, "SC-1"), "board_count"),
        (0x20, None, GetInfo(), Info(BoardType.SCALE, (1, 0, 0), 4, "S" * 200), "serial_number"),
        (0x20, None, GetInfo(), Ack(), "unexpected_answer"),
    ],
)
def test_impossible_answers_are_named(
    addr: int, board: Board | None, request_: Request, answer: Answer, reason: str | None
) -> None:
    assert problem(addr, board, request_, answer) == reason
