"""Answers with a good CRC and impossible content, told on demand (`POST /faults {"lies": [...]}`).

A master must not trust a frame just because its CRC is right; these lies let tests prove it from
the serial line: each is what a broken, confused or hostile board could send.
"""

from __future__ import annotations

import dataclasses

from firmware_sim.boards import Board, LockBoard, ScaleBoard
from firmware_sim.faults import Lie
from protocols.serial import message_frame
from protocols.serial.commands import (
    Answer,
    BoardEvent,
    BoardEventKind,
    ChannelWeight,
    DoorState,
    ReadWeights,
    Request,
    Status,
    Weights,
)
from protocols.serial.frame import encode_frame

IMPOSSIBLE_MG = 2_000_000_000  # 2,000 kg on one shelf


def tell(lies: set[Lie], board: Board, addr: int, seq: int, request: Request, answer: Answer) -> bytes:
    """The wire bytes of `answer`, bent by every lie that applies to this board and answer."""
    answer = _bend(lies, board, request, answer)
    wire = encode_frame(message_frame(addr, seq, answer))
    if "stray_reply" in lies:
        # The same answer, first from the neighbouring address that nobody asked.
        wire = encode_frame(message_frame(addr ^ 0x01, seq, answer)) + wire
    return wire


def _bend(lies: set[Lie], board: Board, request: Request, answer: Answer) -> Answer:
    if "ghost_door" in lies and isinstance(board, LockBoard) and isinstance(answer, Status):
        # Door `count` does not exist; the tag is the one a live session on door 0 would carry.
        ghost = BoardEvent(
            BoardEventKind.DOOR_CLOSED, board.spec.count, board.world.doors[board.first_door].tag, 0
        )
        answer = dataclasses.replace(answer, events=(*answer.events, ghost))
    if isinstance(board, ScaleBoard) and isinstance(request, ReadWeights):
        if "status_from_scale" in lies:
            closed = BoardEvent(BoardEventKind.DOOR_CLOSED, 0, board.world.doors[0].tag, 0)
            return Status(0, board.world.uptime_ms(), (DoorState(False, False),), (closed,))
        if isinstance(answer, Weights):
            answer = _bend_weights(lies, answer)
    return answer


def _bend_weights(lies: set[Lie], weights: Weights) -> Weights:
    channels = list(weights.channels)
    if "impossible_weight" in lies and channels:
        channels[0] = ChannelWeight(IMPOSSIBLE_MG, True)
    if "extra_channel" in lies:
        channels.append(ChannelWeight(500_000, True))
    return Weights(tuple(channels))
