"""The gateway's pure parts: state machine table, outbox policy, transactions, settings."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from gateway.db import open_db
from gateway.door_session import (
    TRANSITIONS,
    BadTransition,
    DoorSession,
    SessionStore,
    State,
    Trigger,
)
from gateway.outbox import Outbox
from gateway.plausibility import Board
from gateway.service import _age_ms
from gateway.settings import load_settings
from gateway.transaction import SequenceNumbers, Transaction
from protocols.mqtt.schemas import DoorEvent, Telemetry, parse_event
from protocols.serial import message_frame
from protocols.serial.commands import (
    Ack,
    BoardEvent,
    BoardEventKind,
    BoardType,
    DoorState,
    GetStatus,
    Status,
    Weights,
)
from protocols.serial.frame import DecodeError, DecodeErrorKind

T0 = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def session() -> DoorSession:
    return DoorSession(
        session_id="s",
        command_id=uuid.uuid4(),
        door=0,
        mode="resident",
        tag=7,
        unlocked_at=T0,
        baseline={0: (1234.5, True, False)},
    )


def test_happy_path_through_the_table() -> None:
    s = session()
    for trigger, state in [
        (Trigger.DOOR_OPENED, State.OPEN),
        (Trigger.LEFT_OPEN_TIMEOUT, State.LEFT_OPEN),
        (Trigger.DOOR_CLOSED, State.SETTLING),
        (Trigger.SETTLED, State.REPORTED),
    ]:
        s = s.fire(trigger, T0)
        assert s.state is state
    assert s.done


@pytest.mark.parametrize("state", list(State))
@pytest.mark.parametrize("trigger", list(Trigger))
def test_every_pair_outside_the_table_is_refused(state: State, trigger: Trigger) -> None:
    s = DoorSession(**{**session().__dict__, "state": state})
    if (state, trigger) in TRANSITIONS:
        assert s.fire(trigger, T0).state is TRANSITIONS[state, trigger]
    else:
        with pytest.raises(BadTransition):
            s.fire(trigger, T0)


def test_sessions_survive_a_restart(tmp_path: Path) -> None:
    s = session().fire(Trigger.DOOR_OPENED, T0 + timedelta(seconds=2))
    SessionStore(open_db(tmp_path)).save(s)
    assert SessionStore(open_db(tmp_path)).load_all() == {0: s}


def door_event(seq: int, eid: uuid.UUID) -> DoorEvent:
    return DoorEvent(event_id=eid, seq=seq, cabinet_id="C", door=0, action="opened", ts=T0)


def test_outbox_keeps_order_until_evack_and_across_reopen(tmp_path: Path) -> None:
    box = Outbox(open_db(tmp_path), max_events=100)
    for _ in range(5):
        box.append(door_event)
    box.acknowledge(2)
    reopened = Outbox(open_db(tmp_path), max_events=100)
    assert [s.seq for s in reopened.pending(10)] == [3, 4, 5]
    assert parse_event(reopened.pending(1)[0].payload).seq == 3
    reopened.append(door_event)
    assert reopened.pending(10)[-1].seq == 6  # seq never restarts, even once drained


def test_outbox_bound_drops_door_events_first(tmp_path: Path) -> None:
    from protocols.mqtt.schemas import AlarmEvent

    box = Outbox(open_db(tmp_path), max_events=3)
    box.append(
        lambda seq, eid: AlarmEvent(
            event_id=eid, seq=seq, cabinet_id="C", alarm="forced_open", state="raised"
        )
    )
    for _ in range(4):
        box.append(door_event)
    kinds = [parse_event(s.payload).kind for s in box.pending(10)]
    assert kinds == ["alarm", "door", "door"]


def test_offline_telemetry_folds_into_buckets(tmp_path: Path) -> None:
    box = Outbox(open_db(tmp_path), max_events=10)
    for second in range(0, 180, 10):
        box.keep_telemetry(Telemetry(ts=T0 + timedelta(seconds=second)), 60, max_buckets=2)
    kept = [Telemetry.model_validate_json(p) for p in box.take_telemetry()]
    assert [k.samples for k in kept] == [6, 6]  # three buckets of 6; the oldest went
    assert box.take_telemetry() == []


def test_sequence_numbers_never_repeat_in_a_row() -> None:
    seqs = SequenceNumbers()
    taken = [seqs.take(0x10) for _ in range(300)]
    assert all((b - a) % 256 == 1 for a, b in zip(taken, taken[1:], strict=False))


def test_transaction_matches_only_its_answer_and_counts_the_rest() -> None:
    tx = Transaction(0x10, 5, GetStatus(), Board(BoardType.LOCK, 1))
    late = message_frame(0x10, 4, Ack())
    other_board = message_frame(0x20, 5, Weights(()))
    garbage = DecodeError(DecodeErrorKind.GARBAGE, b"\x00")
    echo = message_frame(0x10, 5, GetStatus())  # our own request, heard back: not an error
    assert tx.match([late, other_board, garbage, echo]) is None
    assert tx.errors == {"late_answer": 1, "stray_frame": 1, "garbage": 1}
    assert tx.match([message_frame(0x10, 5, Ack())]) is None  # ACK is no answer to GET_STATUS
    assert tx.errors["unexpected_answer"] == 1
    status = Status(0, 1, (DoorState(False, False),))
    assert tx.match([message_frame(0x10, 5, status)]) == status


def test_settings_from_toml_env_and_cli(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    toml = tmp_path / "gateway.toml"
    toml.write_text(
        'cabinet_id = "CAB-9"\nserial = "/dev/ttyUSB0"\ndata_dir = "/var/lib/vf"\n'
        'cloud_key = "/etc/vf/cloud.pem"\nretries = 5\n'
    )
    monkeypatch.setenv("VF_RETRIES", "7")
    settings = load_settings(toml, serial="socket://127.0.0.1:9")
    assert (settings.cabinet_id, settings.serial, settings.retries) == (
        "CAB-9",
        "socket://127.0.0.1:9",
        7,
    )


@pytest.mark.parametrize(
    ("uptime_ms", "at_ms", "age_ms"),
    [(5000, 4000, 1000), (100, 2**32 - 900, 1000), (4000, 4005, 0)],  # plain, across the wrap, "future"
)
def test_board_events_are_dated_across_an_uptime_wrap(uptime_ms: int, at_ms: int, age_ms: int) -> None:
    event = BoardEvent(BoardEventKind.DOOR_OPENED, 0, 1, at_ms)
    assert _age_ms(Status(0, uptime_ms, (), (event,)), event) == age_ms
