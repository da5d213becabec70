"""Fuzzing the serial FrameDecoder: it never raises, and loses or invents no byte.

Bounded and seeded (derandomize): the same examples on every run, a few seconds in all. Input is a
mix of valid frames, damaged frames (a flipped bit, a cut) and noise, fed in arbitrary pieces.
"""

from __future__ import annotations

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from protocols.serial.commands import MAX_PAYLOAD
from protocols.serial.frame import START, DecodeError, Frame, FrameDecoder, encode_frame

FUZZ = settings(
    derandomize=True,
    max_examples=150,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
)
u8 = st.integers(0, 255)
FRAMES = st.builds(
    lambda a, s, c, p: encode_frame(Frame(a, s, c, p[: MAX_PAYLOAD.get(c, 64)])),
    u8,
    u8,
    st.one_of(st.sampled_from(sorted(MAX_PAYLOAD)), u8),
    st.binary(max_size=80),
)


@st.composite
def damaged(draw: st.DrawFn) -> bytes:
    raw = bytearray(draw(FRAMES))
    at = draw(st.integers(0, len(raw) - 1))
    if draw(st.booleans()):
        raw[at] ^= 1 << draw(st.integers(0, 7))
        return bytes(raw)
    return bytes(raw[:at])


PIECES = st.one_of(FRAMES, damaged(), st.binary(max_size=30), st.just(bytes([START])))


@FUZZ
@given(st.lists(PIECES, max_size=20), st.data())
def test_decoder_never_raises_and_every_byte_is_in_one_item(pieces: list[bytes], data: st.DataObject) -> None:
    wire = b"".join(pieces)
    cuts = sorted(data.draw(st.lists(st.integers(0, len(wire)), max_size=8)))
    decoder = FrameDecoder()
    items: list[Frame | DecodeError] = []
    for a, b in zip([0, *cuts], [*cuts, len(wire)], strict=True):
        items += decoder.feed(wire[a:b])
    items += decoder.flush()
    # In order, byte for byte: frames re-encode to what was read, errors carry what was skipped.
    replay = b"".join(encode_frame(i) if isinstance(i, Frame) else i.data for i in items)
    assert replay == wire
    assert decoder.pending == 0


@FUZZ
@given(st.lists(FRAMES, min_size=1, max_size=10), st.binary(max_size=30))
def test_after_noise_and_a_flush_every_frame_comes_out(frames: list[bytes], noise: bytes) -> None:
    decoder = FrameDecoder()
    decoder.feed(noise)
    decoder.flush()  # the master's response timeout
    items = decoder.feed(b"".join(frames))
    # Unknown command codes come out as errors carrying their bytes; every other frame as itself.
    known = [f for f in frames if f[3] in MAX_PAYLOAD]
    assert [encode_frame(i) for i in items if isinstance(i, Frame)] == known
