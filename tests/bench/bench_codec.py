"""Serial codec cost per frame, against the time the frame takes on the wire at 115200 baud."""

from __future__ import annotations

from protocols.serial import frame_message, message_frame
from protocols.serial.commands import BoardEvent, BoardEventKind, DoorState, Status
from protocols.serial.frame import FrameDecoder, encode_frame
from tests.bench.report import Figure, per_op_us

BAUD = 115_200
BITS_PER_BYTE = 10  # 8N1: start bit, 8 data bits, stop bit


def run() -> list[Figure]:
    status = Status(
        0,
        123_456,
        (DoorState(True, True),),
        tuple(BoardEvent(BoardEventKind.DOOR_OPENED, 0, 7, i) for i in range(4)),
    )
    wire = encode_frame(message_frame(0x10, 1, status))
    decoder = FrameDecoder()

    def round_trip() -> None:
        (frame,) = decoder.feed(encode_frame(message_frame(0x10, 1, status)))
        frame_message(frame)  # type: ignore[arg-type]

    wire_us = len(wire) * BITS_PER_BYTE / BAUD * 1e6
    return [
        Figure(
            f"encode+decode STATUS ({len(wire)} B)",
            "µs/frame",
            per_op_us(round_trip, 20_000),
            "same frame on the wire @115200",
            wire_us,
        )
    ]
