"""Serial frames: layout, CRC, encoder and a resynchronising decoder (sans-IO).

    +------+------+-----+-----+-----+-------------+---------+
    | 0xA5 | addr | seq | cmd | len | payload ... | crc16le |
    +------+------+-----+-----+-----+-------------+---------+
            \\_______ CRC-16/MODBUS over these ________/

The decoder never raises: garbage, bad CRCs and impossible lengths come out as `DecodeError`
items, and every valid frame after them is still found.
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from dataclasses import dataclass

from crccheck.crc import Crc16Modbus

from protocols.serial.commands import MAX_PAYLOAD, UNKNOWN_COMMAND_MAX_PAYLOAD

START = 0xA5
HEADER_SIZE = 5  # start, addr, seq, cmd, len
CRC_SIZE = 2


def crc16(data: bytes) -> int:
    """CRC-16/MODBUS (poly 0xA001 reflected, init 0xFFFF); check value 0x4B37."""
    return int(Crc16Modbus.calc(data))


@dataclass(frozen=True, slots=True)
class Frame:
    addr: int
    seq: int
    cmd: int
    payload: bytes = b""


class DecodeErrorKind(enum.Enum):
    GARBAGE = "garbage"  # bytes before a start byte
    BAD_CRC = "bad_crc"
    BAD_LENGTH = "bad_length"  # longer than the command allows
    UNKNOWN_COMMAND = "unknown_command"  # well-formed frame, command code not in the table
    TRUNCATED = "truncated"  # the line went quiet mid-frame (see FrameDecoder.flush)


@dataclass(frozen=True, slots=True)
class DecodeError:
    kind: DecodeErrorKind
    data: bytes  # the bytes skipped: every input byte is in exactly one frame or error
    # Set when the header could be read; lets a board NACK an unknown command.
    addr: int | None = None
    seq: int | None = None
    cmd: int | None = None


def encode_frame(frame: Frame) -> bytes:
    """The bytes of one frame on the wire."""
    for name in ("addr", "seq", "cmd"):
        value = getattr(frame, name)
        if not 0 <= value <= 0xFF:
            raise ValueError(f"frame {name} {value} is not a byte")
    if len(frame.payload) > 0xFF:
        raise ValueError(f"payload of {len(frame.payload)} bytes exceeds 255")
    body = bytes((frame.addr, frame.seq, frame.cmd, len(frame.payload))) + frame.payload
    return bytes((START,)) + body + crc16(body).to_bytes(2, "little")


class FrameDecoder:
    """Bytes in, frames and decode errors out."""

    def __init__(self, max_payload: Mapping[int, int] = MAX_PAYLOAD) -> None:
        self._buffer = bytearray()
        self._max_payload = max_payload

    def feed(self, data: bytes) -> list[Frame | DecodeError]:
        """Add bytes; return every frame completed and every piece of garbage skipped."""
        self._buffer += data
        out: list[Frame | DecodeError] = []
        garbage = bytearray()
        while self._buffer:
            item, consumed = self._next()
            if consumed == 0:
                break
            if item is None:  # skipped bytes; merge runs into one error
                garbage += self._buffer[:consumed]
            else:
                if garbage:
                    out.append(DecodeError(DecodeErrorKind.GARBAGE, bytes(garbage)))
                    garbage.clear()
                out.append(item)
            del self._buffer[:consumed]
        if garbage:
            out.append(DecodeError(DecodeErrorKind.GARBAGE, bytes(garbage)))
        return out

    def flush(self) -> list[Frame | DecodeError]:
        """The line went quiet (e.g. a response timeout): the partial frame at the head was cut short
        or was a false start byte in noise. Give up on its start byte and decode what follows, so a
        real frame behind a false start is still found; what is left incomplete is TRUNCATED."""
        out: list[Frame | DecodeError] = []
        truncated = bytearray()
        while self._buffer:
            truncated.append(self._buffer.pop(0))
            for item in self.feed(b""):
                if isinstance(item, DecodeError):
                    truncated += item.data  # still part of what the quiet line cut short
                    continue
                if truncated:
                    out.append(DecodeError(DecodeErrorKind.TRUNCATED, bytes(truncated)))
                    truncated.clear()
                out.append(item)
        if truncated:
            out.append(DecodeError(DecodeErrorKind.TRUNCATED, bytes(truncated)))
        return out

    @property
    def pending(self) -> int:
        return len(self._buffer)

    def _next(self) -> tuple[Frame | DecodeError | None, int]:
        """Look at the buffer head: (item, bytes consumed); (None, n) skips n garbage bytes."""
        buf = self._buffer
        start = buf.find(START)
        if start < 0:
            return None, len(buf)
        if start > 0:
            return None, start
        if len(buf) < HEADER_SIZE:
            return None, 0
        addr, seq, cmd, length = buf[1], buf[2], buf[3], buf[4]
        limit = self._max_payload.get(cmd, UNKNOWN_COMMAND_MAX_PAYLOAD)
        if length > limit:
            # Most likely a start byte inside garbage: skip it and rescan.
            return DecodeError(DecodeErrorKind.BAD_LENGTH, bytes(buf[:1]), addr, seq, cmd), 1
        size = HEADER_SIZE + length + CRC_SIZE
        if len(buf) < size:
            return None, 0
        raw = bytes(buf[:size])
        if crc16(raw[1:-CRC_SIZE]) != int.from_bytes(raw[-CRC_SIZE:], "little"):
            return DecodeError(DecodeErrorKind.BAD_CRC, raw[:1], addr, seq, cmd), 1
        if cmd not in self._max_payload:
            return DecodeError(DecodeErrorKind.UNKNOWN_COMMAND, raw, addr, seq, cmd), size
        return Frame(addr, seq, cmd, raw[HEADER_SIZE:-CRC_SIZE]), size
