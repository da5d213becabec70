"""Typed messages: every layout round-trips, and bad payloads raise PayloadError."""

import pytest
from hypothesis import given
from hypothesis import strategies as st

from protocols.serial.commands import (
    MAX_EVENTS_PER_STATUS,
    MAX_PAYLOAD,
    BoardEvent,
    BoardEventKind,
    BoardType,
    Calibrate,
    ChannelWeight,
    Climate,
    Command,
    DoorState,
    Info,
    Nack,
    NackCode,
    PayloadError,
    SetSetpoint,
    Status,
    Tare,
    Unlock,
    Weights,
    decode_message,
    encode_message,
)

u8, u16, u32 = st.integers(0, 0xFF), st.integers(0, 0xFFFF), st.integers(0, 0xFFFFFFFF)
i16 = st.integers(-32767, 32767)
events = st.builds(BoardEvent, st.sampled_from(BoardEventKind), u8, u32, u32)
messages = st.one_of(
    st.builds(Unlock, u8, u16, u32),
    st.builds(Tare, u8),
    st.builds(Calibrate, u8, u32),
    st.builds(SetSetpoint, i16),
    st.builds(Nack, st.sampled_from(NackCode)),
    st.builds(
        Info,
        st.sampled_from(BoardType),
        st.tuples(u8, u8, u8),
        u8,
        st.text("ABCDEFGHJKLMNPQRSTUVWXYZ0123456789-", max_size=32),
    ),
    st.builds(
        Status,
        u8,
        u32,
        st.lists(st.builds(DoorState, st.booleans(), st.booleans(), st.booleans()), max_size=16).map(tuple),
        st.lists(events, max_size=MAX_EVENTS_PER_STATUS).map(tuple),
    ),
    st.builds(
        Weights,
        st.lists(
            st.builds(ChannelWeight, st.integers(-(2**31), 2**31 - 1), st.booleans(), st.booleans()),
            max_size=32,
        ).map(tuple),
    ),
    st.builds(
        Climate,
        st.lists(st.one_of(st.none(), i16), max_size=8).map(tuple),
        st.booleans(),
        i16,
    ),
)


@given(messages)
def test_round_trip(message: object) -> None:
    cmd, payload = encode_message(message)  # type: ignore[arg-type]
    assert len(payload) <= MAX_PAYLOAD[cmd]
    assert decode_message(cmd, payload) == message


@given(st.sampled_from(sorted(MAX_PAYLOAD)), st.binary(max_size=40))
def test_decode_raises_only_payload_error(cmd: int, payload: bytes) -> None:
    try:
        decode_message(cmd, payload)
    except PayloadError:
        pass


@pytest.mark.parametrize(
    ("cmd", "payload", "reason"),
    [
        (Command.UNLOCK, b"\x00\x01", "wants 7"),
        (Command.PING, b"\x00", "wants 0"),
        (Command.NACK, b"\x63", "NACK payload"),
        (Command.WEIGHTS, b"\x02\x01\x00\x00\x00\x00", "announces 2 channels"),
        (0x42, b"", "unknown command 0x42"),
    ],
)
def test_bad_payloads_say_why(cmd: int, payload: bytes, reason: str) -> None:
    with pytest.raises(PayloadError, match=reason):
        decode_message(cmd, payload)


def test_encode_refuses_out_of_range_fields() -> None:
    with pytest.raises(ValueError, match="Unlock"):
        encode_message(Unlock(door=1, pulse_ms=70_000, session_tag=1))
