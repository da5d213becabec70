"""One request, one answer: sequence numbers, matching, timeouts and retries (no I/O here)."""

from __future__ import annotations

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass, field

from gateway.plausibility import Board, problem
from protocols.serial import frame_message, message_frame
from protocols.serial.commands import ANSWERS, Answer, PayloadError, Request
from protocols.serial.frame import DecodeError, Frame, encode_frame


@dataclass
class SequenceNumbers:
    """Per board, never reusing a number for a new request (a board would replay its answer)."""

    _next: dict[int, int] = field(default_factory=dict)
    _rng: random.Random = field(default_factory=random.Random)

    def take(self, addr: int) -> int:
        # A random start keeps a restarted master from colliding with the board's memory.
        seq = self._next.get(addr, self._rng.randrange(256))
        self._next[addr] = (seq + 1) % 256
        return seq


@dataclass
class Transaction:
    """A request in flight: the bytes to (re)send and how to recognise its answer."""

    addr: int
    seq: int
    request: Request
    board: Board | None = None  # what discovery learned about the addressed board
    errors: Counter[str] = field(default_factory=Counter)  # what was not trusted, by reason

    @property
    def wire(self) -> bytes:
        return encode_frame(message_frame(self.addr, self.seq, self.request))

    @property
    def decode_errors(self) -> int:
        return sum(self.errors.values())

    def match(self, items: Sequence[Frame | DecodeError]) -> Answer | None:
        """The answer among decoded items, if it is there; everything else is counted."""
        for item in items:
            if isinstance(item, DecodeError):
                self.errors[item.kind.value] += 1
                continue
            answer = self._answer_in(item)
            if answer is not None:
                return answer
        return None

    def _answer_in(self, frame: Frame) -> Answer | None:
        if frame.addr != self.addr:
            self.errors["stray_frame"] += 1  # an address nobody asked
            return None
        if frame.seq != self.seq:
            self.errors["late_answer"] += 1
            return None
        try:
            message = frame_message(frame)
        except PayloadError:
            self.errors["bad_payload"] += 1
            return None
        if not isinstance(message, ANSWERS):
            return None  # our own request, echoed by a half-duplex transceiver
        reason = problem(self.addr, self.board, self.request, message)
        if reason is not None:
            self.errors[reason] += 1
            return None
        return message
