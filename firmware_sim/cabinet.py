"""A whole simulated cabinet on the bus: bytes from the master in, answer bytes out."""

from __future__ import annotations

import random

from firmware_sim.boards import Board, build_boards
from firmware_sim.clock import SimClock
from firmware_sim.faults import Faults, LineNoise
from firmware_sim.layout import Layout
from firmware_sim.lies import tell
from firmware_sim.world import World
from protocols.serial import frame_message, message_frame
from protocols.serial.commands import ANSWERS, Answer, Nack, NackCode, PayloadError, Request
from protocols.serial.frame import DecodeError, DecodeErrorKind, Frame, FrameDecoder, encode_frame


class Cabinet:
    def __init__(self, layout: Layout, *, seed: int = 0, speed: float = 1.0, faults: Faults | None = None):
        self.faults = faults or Faults()
        self.world = World.build(layout, SimClock(speed), seed)
        self.noise = LineNoise(random.Random(seed + 1))
        self.decoder = FrameDecoder()
        self.boards: dict[int, Board] = build_boards(self.world, self.faults)
        self._apply_to_world()

    def receive(self, data: bytes) -> bytes:
        """Bytes heard on the line → the bytes the boards send back (already damaged by faults)."""
        out = b"".join(self._answer(item) for item in self.decoder.feed(data))
        return self.noise.apply(out, self.faults)

    def power_loss(self) -> None:
        """Power comes back: physical state stays, latched events and seq memory are gone."""
        with self.world.lock:
            self.world.events.clear()
            self.world.boot_real_ms = self.world.clock.real_ms()
            self.decoder = FrameDecoder()
            self.boards = build_boards(self.world, self.faults)

    def set_faults(self, update: dict[str, object]) -> Faults:
        for key, value in update.items():
            setattr(self.faults, key, value)
        self._apply_to_world()
        return self.faults

    def _apply_to_world(self) -> None:
        with self.world.lock:
            self.world.advance()  # the past stays as it was; the fault acts from now on
            self.world.compressor_ok = self.faults.compressor == "ok"
            f = self.faults
            self.world.failing_cells(f.scale_drift, f.scale_creep, f.scale_noise)

    def _answer(self, item: Frame | DecodeError) -> bytes:
        if isinstance(item, DecodeError):
            # A well-formed frame with an unknown command deserves a NACK; garbage, silence.
            if item.kind is DecodeErrorKind.UNKNOWN_COMMAND and item.addr in self.boards:
                assert item.seq is not None
                return self._send(item.addr, item.seq, Nack(NackCode.UNKNOWN_COMMAND))
            return b""
        board = self.boards.get(item.addr)
        if board is None or item.addr in self.faults.dead_boards:
            return b""
        raw = encode_frame(item)
        if board.last and board.last[0] == raw:
            return board.last[1]
        board.last = (raw, self._execute(board, item))
        return board.last[1]

    def _execute(self, board: Board, frame: Frame) -> bytes:
        try:
            message = frame_message(frame)
        except PayloadError:
            return self._send(frame.addr, frame.seq, Nack(NackCode.BAD_LENGTH))
        if isinstance(message, ANSWERS):
            # Boards take requests, not answers.
            return self._send(frame.addr, frame.seq, Nack(NackCode.UNKNOWN_COMMAND))
        request: Request = message  # type: ignore[assignment]
        answer = board.handle(request)
        return tell(self.faults.lies, board, frame.addr, frame.seq, request, answer)

    def _send(self, addr: int, seq: int, answer: Answer) -> bytes:
        return encode_frame(message_frame(addr, seq, answer))
