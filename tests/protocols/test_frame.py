"""The frame codec: CRC, round trips, and a decoder that survives anything."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.serial.commands import MAX_PAYLOAD, Command
from protocols.serial.frame import (
    START,
    DecodeError,
    DecodeErrorKind,
    Frame,
    FrameDecoder,
    crc16,
    encode_frame,
)


def bitwise_crc16_modbus(data: bytes) -> int:
    """An independent reference implementation, straight from the Modbus spec."""
    crc = 0xFFFF
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = (crc >> 1) ^ 0xA001 if crc & 1 else crc >> 1
    return crc


def test_crc_check_value_of_the_standard() -> None:
    assert crc16(b"123456789") == 0x4B37


@given(st.binary(max_size=300))
def test_crc_matches_reference(data: bytes) -> None:
    assert crc16(data) == bitwise_crc16_modbus(data)


def test_crc_is_sent_little_endian() -> None:
    raw = encode_frame(Frame(0x10, 1, Command.PING))
    assert raw[-2:] == crc16(raw[1:-2]).to_bytes(2, "little")
    assert raw[0] == START


frames = st.builds(
    Frame,
    addr=st.integers(0, 255),
    seq=st.integers(0, 255),
    cmd=st.sampled_from(sorted(MAX_PAYLOAD)),
    payload=st.binary(max_size=0),
).flatmap(lambda f: st.binary(max_size=MAX_PAYLOAD[f.cmd]).map(lambda p: Frame(f.addr, f.seq, f.cmd, p)))


@given(st.lists(frames, max_size=8))
def test_round_trip(batch: list[Frame]) -> None:
    decoder = FrameDecoder()
    assert decoder.feed(b"".join(encode_frame(f) for f in batch)) == batch


@given(st.lists(frames, min_size=1, max_size=5), st.data())
def test_round_trip_any_split(batch: list[Frame], data: st.DataObject) -> None:
    wire = b"".join(encode_frame(f) for f in batch)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=6)))
    decoder = FrameDecoder()
    out: list[Frame | DecodeError] = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        out += decoder.feed(wire[a:b])
    assert out == batch


@given(st.lists(st.tuples(st.binary(max_size=40), frames), max_size=6), st.binary(max_size=40))
def test_every_frame_after_garbage_is_recovered(pieces: list[tuple[bytes, Frame]], tail: bytes) -> None:
    wire = b"".join(garbage + encode_frame(f) for garbage, f in pieces) + tail
    decoder = FrameDecoder()
    items = decoder.feed(wire) + decoder.flush()
    found = [i for i in items if isinstance(i, Frame)]
    # Garbage may by chance contain a valid frame; the real ones must all be there, in order.
    it = iter(found)
    assert all(any(f == g for g in it) for _, f in pieces)


@given(st.binary(max_size=2000))
def test_decoder_never_raises(data: bytes) -> None:
    decoder = FrameDecoder()
    items = decoder.feed(data) + decoder.flush()
    consumed = sum(len(encode_frame(i)) if isinstance(i, Frame) else len(i.data) for i in items)
    assert consumed == len(data)  # every byte is accounted for, once


def test_garbage_is_reported_and_frame_recovered() -> None:
    frame = Frame(0x20, 7, Command.READ_WEIGHTS)
    items = FrameDecoder().feed(b"\x00\x13\x37" + encode_frame(frame))
    assert items == [DecodeError(DecodeErrorKind.GARBAGE, b"\x00\x13\x37"), frame]


def test_bad_crc_is_an_error_and_the_next_frame_survives() -> None:
    bad = bytearray(encode_frame(Frame(0x10, 1, Command.UNLOCK, b"\x00\xdc\x05\x01\x00\x00\x00")))
    bad[-1] ^= 0xFF
    good = Frame(0x10, 2, Command.PING)
    items = FrameDecoder().feed(bytes(bad) + encode_frame(good))
    assert items[0] == DecodeError(DecodeErrorKind.BAD_CRC, bytes(bad[:1]), 0x10, 1, 0x04)
    assert isinstance(items[1], DecodeError)
    assert items[1].kind is DecodeErrorKind.GARBAGE
    assert items[-1] == good


def test_bad_length_is_rejected_without_waiting() -> None:
    # PING carries no payload: a length of 200 cannot be a PING, so do not wait for 200 bytes.
    items = FrameDecoder().feed(bytes([START, 0x10, 1, Command.PING, 200]))
    assert items[0].kind is DecodeErrorKind.BAD_LENGTH  # type: ignore[union-attr]


def test_unknown_command_is_an_error_with_its_header() -> None:
    raw = encode_frame(Frame(0x10, 9, 0x42, b"\x01"))
    assert FrameDecoder().feed(raw) == [DecodeError(DecodeErrorKind.UNKNOWN_COMMAND, raw, 0x10, 9, 0x42)]


def test_truncated_frame_is_flushed() -> None:
    raw = encode_frame(Frame(0x10, 1, Command.UNLOCK, b"\x00\xdc\x05\x01\x00\x00\x00"))
    decoder = FrameDecoder()
    assert decoder.feed(raw[:6]) == []
    assert decoder.pending == 6
    assert decoder.flush() == [DecodeError(DecodeErrorKind.TRUNCATED, raw[:6])]
    assert decoder.feed(raw) == [Frame(0x10, 1, Command.UNLOCK, raw[5:-2])]


@pytest.mark.parametrize("field", ["addr", "seq", "cmd"])
def test_encoder_refuses_non_bytes(field: str) -> None:
    values = {"addr": 1, "seq": 1, "cmd": 1, field: 256}
    with pytest.raises(ValueError, match=field):
        encode_frame(Frame(values["addr"], values["seq"], values["cmd"]))
