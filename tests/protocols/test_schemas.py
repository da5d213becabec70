"""Payload schemas: round trips, UTC, and readable refusals of malformed payloads."""

import json
from datetime import UTC, datetime, timedelta, timezone
from uuid import uuid4

import pytest

from protocols.mqtt.schemas import (
    Ack,
    AlarmEvent,
    Command,
    Config,
    DoorEvent,
    EvAck,
    LaneDelta,
    PayloadInvalid,
    SessionResult,
    Status,
    Telemetry,
    UnlockAction,
    encode,
    parse,
    parse_event,
)
from protocols.planogram import Channel, Lane, Planogram

NOW = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
WATER = Lane(lane=0, sku="w", unit_weight_g=560, tolerance_g=6, capacity=8)


def session_result() -> SessionResult:
    return SessionResult(
        event_id=uuid4(),
        seq=7,
        cabinet_id="CAB-001",
        ts=NOW,
        session_id="s-1",
        command_id=uuid4(),
        door=0,
        mode="resident",
        outcome="completed",
        unlocked_at=NOW - timedelta(seconds=40),
        lanes=[LaneDelta(channel=0, lane=1, sku="cola-330", delta=-2)],
        confidence=0.998,
    )


@pytest.mark.parametrize(
    "payload",
    [
        Status(state="online", ts=NOW),
        Telemetry(ts=NOW, temperatures_c=[4.5, None], outbox_depth=3),
        EvAck(seq=41, ts=NOW),
        Ack(command_id=uuid4(), status="rejected", reason="replayed", ts=NOW),
        Command(
            command_id=uuid4(),
            cabinet_id="CAB-001",
            ts=NOW,
            expires_at=NOW + timedelta(minutes=1),
            body=UnlockAction(door=0, session_id="s-1"),
        ),
        Config(
            version=3,
            ts=NOW,
            planogram=Planogram(
                channels=(
                    Channel(
                        channel=0,
                        lanes=(WATER,),
                    ),
                )
            ),
        ),
    ],
    ids=lambda p: type(p).__name__,
)
def test_round_trip(payload: object) -> None:
    assert parse(type(payload), encode(payload)) == payload  # type: ignore[arg-type]


def test_events_parse_by_kind() -> None:
    result = session_result()
    door = DoorEvent(event_id=uuid4(), seq=8, cabinet_id="CAB-001", door=0, action="opened")
    alarm = AlarmEvent(event_id=uuid4(), seq=9, cabinet_id="CAB-001", alarm="forced_open", state="raised")
    for event in (result, door, alarm):
        assert parse_event(encode(event)) == event


def test_timestamps_are_utc_and_must_carry_a_zone() -> None:
    shanghai = timezone(timedelta(hours=8))
    status = Status(state="online", ts=datetime(2026, 11, 24, 16, 30, tzinfo=shanghai))
    assert status.ts == NOW
    assert status.ts.utcoffset() == timedelta(0)
    with pytest.raises(PayloadInvalid, match="ts"):
        parse(Status, json.dumps({"state": "online", "ts": "2026-11-24T08:30:00"}))


@pytest.mark.parametrize(
    ("raw", "reason"),
    [
        (b"not json", "Invalid JSON"),
        (b'{"v": 2, "state": "online"}', "v: Input should be 1"),
        (b'{"state": "sleeping"}', "state"),
        (b'{"state": "online", "extra": 1}', "extra: Extra inputs are not permitted"),
    ],
)
def test_malformed_status_says_why(raw: bytes, reason: str) -> None:
    with pytest.raises(PayloadInvalid, match=reason):
        parse(Status, raw)


def test_malformed_event_says_why() -> None:
    body = json.loads(encode(session_result()))
    body["seq"] = 0
    with pytest.raises(PayloadInvalid, match="seq"):
        parse_event(json.dumps(body))
    body["kind"] = "teleport"
    with pytest.raises(PayloadInvalid, match="kind"):
        parse_event(json.dumps(body))


def test_planogram_refuses_repeated_lanes() -> None:
    lane = Lane(lane=0, sku="w", unit_weight_g=560, tolerance_g=6, capacity=8)
    with pytest.raises(ValueError, match="repeat"):
        Channel(channel=0, lanes=(lane, lane))
