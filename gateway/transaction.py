"""One request, one answer: sequence numbers, matching, timeouts and retries (no I/O here)."""

from __future__ import annotations

import random
from dataclasses import dataclass, field

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
    attempts: int = 0
    decode_errors: int = 0

    @property
    def wire(self) -> bytes:
        return encode_frame(message_frame(self.addr, self.seq, self.request))

    def match(self, items: list[Frame | DecodeError]) -> Answer | None:
        """The answer among decoded items, if it is there; stray frames are ignored."""
        for item in items:
            if isinstance(item, DecodeError):
                self.decode_errors += 1
                continue
            if (item.addr, item.seq) != (self.addr, self.seq):
                continue
            try:
                message = frame_message(item)
            except PayloadError:
                self.decode_errors += 1
                continue
            if isinstance(message, ANSWERS):
                return message
        return None
