"""A request answered over a real pty by the simulated boards, against a bare pty echo."""

from __future__ import annotations

import time
from collections.abc import Callable

import serial

from firmware_sim.run import start_cabinet
from firmware_sim.serial_link import PtyLink
from protocols.serial import message_frame
from protocols.serial.commands import ReadWeights
from protocols.serial.frame import Frame, FrameDecoder, encode_frame
from tests.bench.report import Figure

ROUNDS = 2000


def _round_trips(path: str, request: bytes, done: Callable[[serial.Serial], object]) -> float:
    port = serial.Serial(path, 115200, timeout=1)
    try:
        start = time.perf_counter()
        for _ in range(ROUNDS):
            port.write(request)
            done(port)
        return (time.perf_counter() - start) / ROUNDS * 1e6
    finally:
        port.close()


def run() -> list[Figure]:
    request = encode_frame(message_frame(0x20, 1, ReadWeights()))
    echo = PtyLink(lambda data: data).start()  # the floor: the same pty, no codec, no boards
    try:
        floor = _round_trips(echo.path, request, lambda port: port.read(len(request)))
    finally:
        echo.stop()
    cabinet = start_cabinet("chilled-4shelf")
    decoder = FrameDecoder()

    def answer(port: serial.Serial) -> None:
        while not any(isinstance(item, Frame) for item in decoder.feed(port.read(max(1, port.in_waiting)))):
            pass

    try:
        # A new seq each time: a repeated request would be answered from the board's memory.
        frames = [encode_frame(message_frame(0x20, n % 256, ReadWeights())) for n in range(ROUNDS)]
        port = serial.Serial(cabinet.serial_path, 115200, timeout=1)
        start = time.perf_counter()
        for frame in frames:
            port.write(frame)
            answer(port)
        ours = (time.perf_counter() - start) / ROUNDS * 1e6
        port.close()
    finally:
        cabinet.stop()
    return [
        Figure(
            "READ_WEIGHTS via pty to the simulated scale board",
            "µs/round trip",
            ours,
            "pty echo of the same bytes",
            floor,
        )
    ]
