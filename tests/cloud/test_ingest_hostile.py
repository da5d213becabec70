"""Ingest under hostile MQTT input, on a real Mosquitto and both databases.

Cabinet B (one credential, its own topics) must not move cabinet A's sessions, money or stock, and no
message, however strange, may stop a worker or go unnoticed by /healthz.
"""

from __future__ import annotations

import json
import random
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.app import create_app
from cloud.commands import CommandSigner
from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import Alarm, Cabinet, ProcessedEvent, User
from cloud.db.models import Session as Visit
from cloud.domain import ingest, ledger, sessions
from cloud.domain.payments import PrepaidBalance
from cloud.ingest.worker import IngestWorker
from cloud.settings import CloudSettings
from firmware_sim.demo.servers import MosquittoServer
from protocols.mqtt.schemas import (
    Ack,
    AlarmEvent,
    DoorEvent,
    EvAck,
    LaneDelta,
    SessionResult,
    Status,
    Telemetry,
    encode,
    parse,
)
from protocols.mqtt.topics import Channel, topic
from tests.cloud.conftest import deliver_payments
from tests.harness import wait_until

A, B = "XH-0001", "XH-0002"  # both in the demo fleet; B's layout is ambient-lanes
PAY = PrepaidBalance()
COKES = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=-2)]


class Cabinet_:
    """One cabinet's side of the broker: publishes on its own topics, collects its evacks."""

    def __init__(self, code: str, port: int) -> None:
        self.code = code
        self.acked = 0
        self.seq = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe(topic(code, Channel.EVACK), qos=1)
        self.client.on_message = self._on_evack
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_evack(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.acked = max(self.acked, parse(EvAck, message.payload).seq)

    def send(self, channel: Channel, payload: bytes | Any) -> None:
        raw = payload if isinstance(payload, bytes) else encode(payload)
        self.client.publish(topic(self.code, channel), raw, qos=1).wait_for_publish(5)

    def next_seq(self) -> int:
        self.seq += 1
        return self.seq

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


@pytest.fixture
def worker(factory: sessionmaker[Session], mosquitto: MosquittoServer) -> Iterator[IngestWorker]:
    started = IngestWorker(
        mqtt_url=mosquitto.url,
        factory=factory,
        share_group=None,
        command_ttl=timedelta(minutes=2),
        name=f"hostile-{uuid.uuid4().hex[:6]}",
    ).start()
    wait_until(started.connected, what="the worker's subscription")
    yield started
    started.stop()


@pytest.fixture
def cabinets(mosquitto: MosquittoServer, factory: sessionmaker[Session]) -> Iterator[dict[str, Cabinet_]]:
    sides = {code: Cabinet_(code, mosquitto.port) for code in (A, B)}
    for code in sides:
        with transaction(factory) as db:
            ingest.on_status(db, code, Status(state="online"))
    yield sides
    for side in sides.values():
        side.close()


def open_visit(factory: sessionmaker[Session], signer: CommandSigner, cabinet: str = A, door: int = 0) -> str:
    with transaction(factory) as db:
        resident = db.scalar(select(User).where(User.name == "王芳"))
        assert resident is not None
        visit = sessions.open_session(
            db,
            user=resident,
            cabinet_code=cabinet,
            door=door,
            mode="resident",
            signer=signer,
            provider=PAY,
            hold_fen=5000,
        )
        return visit.id


def visit_of(factory: sessionmaker[Session], sid: str) -> Visit:
    with factory() as db:
        found = db.get(Visit, sid)
        assert found is not None
        db.expunge(found)
        return found


def held_and_balance(factory: sessionmaker[Session]) -> tuple[int, int]:
    deliver_payments(factory)
    with factory() as db:
        resident = db.scalar(select(User).where(User.name == "王芳"))
        assert resident is not None
        return resident.balance_fen, resident.held_fen


def stock(factory: sessionmaker[Session], code: str) -> dict[tuple[int, int], int]:
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == code))
        assert cabinet is not None
        return {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}


def result(side: Cabinet_, sid: str, lanes: list[LaneDelta], **extra: Any) -> SessionResult:
    now = datetime.now(UTC)
    return SessionResult(
        event_id=uuid.uuid4(),
        seq=side.next_seq(),
        cabinet_id=side.code,
        session_id=sid,
        command_id=uuid.uuid4(),
        lanes=lanes,
        **{"door": 0, "mode": "resident", "outcome": "completed", "unlocked_at": now, **extra},
    )


def door(side: Cabinet_, sid: str, action: str) -> DoorEvent:
    return DoorEvent(
        event_id=uuid.uuid4(),
        seq=side.next_seq(),
        cabinet_id=side.code,
        door=0,
        action=action,
        session_id=sid,
    )


def test_a_cabinet_cannot_move_another_cabinets_session(
    factory: sessionmaker[Session], signer: CommandSigner, worker: IngestWorker, cabinets: dict[str, Cabinet_]
) -> None:
    a, b = cabinets[A], cabinets[B]
    sid = open_visit(factory, signer)
    command_id = uuid.UUID(visit_of(factory, sid).command_id)
    stock_a, money = stock(factory, A), held_and_balance(factory)

    b.send(Channel.ACK, Ack(command_id=command_id, status="accepted", session_id=sid))
    b.send(Channel.EVENTS, door(b, sid, "opened"))
    b.send(Channel.EVENTS, door(b, sid, "closed"))
    b.send(Channel.EVENTS, result(b, sid, COKES))
    wait_until(lambda: b.acked == 3, what="B's events stored (and acknowledged, so B does not resend)")

    assert visit_of(factory, sid).status == "pending"
    assert stock(factory, A) == stock_a
    assert held_and_balance(factory) == money
    with factory() as db:
        alarm = db.scalar(select(Alarm).where(Alarm.kind == "foreign_session"))
        assert alarm is not None, "ops must hear that a cabinet spoke for another cabinet's session"

    # A's own messages still settle it, exactly as before.
    a.send(Channel.ACK, Ack(command_id=command_id, status="accepted", session_id=sid))
    a.send(Channel.EVENTS, result(a, sid, COKES))
    wait_until(lambda: visit_of(factory, sid).status == "settled", what="A's own result settles")
    assert held_and_balance(factory) == (money[0] - 700, 0)


def test_lanes_the_cabinet_does_not_have_are_never_charged(
    factory: sessionmaker[Session], signer: CommandSigner, worker: IngestWorker, cabinets: dict[str, Cabinet_]
) -> None:
    a = cabinets[A]
    sid = open_visit(factory, signer)
    before = stock(factory, A)
    bogus = [
        LaneDelta(channel=1, lane=0, sku="coke-330", delta=-1),
        LaneDelta(channel=99, lane=7, sku="gold-bar", delta=-1),
    ]
    a.send(Channel.EVENTS, result(a, sid, bogus))
    wait_until(lambda: visit_of(factory, sid).status == "review", what="an impossible basket goes to review")
    assert stock(factory, A) == before
    assert held_and_balance(factory)[1] == 5000


def test_a_result_for_another_door_of_the_session_goes_to_review(
    factory: sessionmaker[Session], signer: CommandSigner, worker: IngestWorker, cabinets: dict[str, Cabinet_]
) -> None:
    a = cabinets[A]
    sid = open_visit(factory, signer)
    a.send(Channel.EVENTS, result(a, sid, COKES, door=3))
    wait_until(lambda: visit_of(factory, sid).status == "review", what="a mismatched door goes to review")
    assert held_and_balance(factory)[1] == 5000


HOSTILE_EVENTS: list[dict[str, Any]] = [
    {"seq": 9223372036854775808},
    {"seq": 2**200},
    {"seq": -1},
    {"seq": 1.5},
    {"door": 2**64},
    {"event_id": "not-a-uuid"},
    {"ts": "2026-13-45T99:00:00Z"},
    {"ts": "2026-01-01T00:00:00"},  # naive
    {"session_id": "\ud800"},
    {"session_id": "x" * 10_000},
]


def test_no_message_stops_ingest(
    factory: sessionmaker[Session], worker: IngestWorker, cabinets: dict[str, Cabinet_]
) -> None:
    b = cabinets[B]
    good = json.loads(encode(door(b, "s-1", "opened")))
    b.seq = 0
    poison: list[bytes] = [json.dumps({**good, **change}).encode() for change in HOSTILE_EVENTS]
    poison += [b"", b"\x00\xff" * 100, b"[]", b"null", b"{" * 10_000, b"9" * 100_000, b'{"kind": "door"}']
    for raw in poison:
        b.send(Channel.EVENTS, raw)
    for channel in (Channel.ACK, Channel.STATUS, Channel.TELEMETRY):
        for raw in poison[-7:] + [b'{"command_id": "' + b"9" * 5000 + b'"}', b'{"temperatures_c": [1e999]}']:
            b.send(channel, raw)
    b.send(Channel.EVENTS, door(b, "s-1", "opened"))
    wait_until(lambda: b.acked == 1, what="a good event after the poison is stored and acknowledged")
    assert worker.alive()


def test_an_unexpected_failure_is_dead_lettered_and_counted(
    factory: sessionmaker[Session],
    worker: IngestWorker,
    cabinets: dict[str, Cabinet_],
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    b = cabinets[B]
    real = sessions.on_door

    def explode(db: Session, cabinet: Cabinet, event: DoorEvent) -> None:
        if event.session_id == "boom":
            raise ZeroDivisionError("a bug we have not found yet")
        real(db, cabinet, event)

    monkeypatch.setattr(sessions, "on_door", explode)
    b.send(Channel.EVENTS, door(b, "boom", "opened"))
    b.send(Channel.EVENTS, door(b, "fine", "closed"))
    wait_until(lambda: b.acked == 2, what="the poisoned event set aside, the next one stored")
    assert worker.alive()
    assert worker.failures == 1
    with factory() as db:
        kinds = {e.seq: e.kind for e in db.scalars(select(ProcessedEvent))}
        assert kinds == {1: "dead_letter", 2: "door"}
        assert db.scalar(select(Alarm).where(Alarm.kind == "ingest_dead_letter")) is not None


def test_healthz_reports_a_dead_ingest_worker(
    factory: sessionmaker[Session], db_url: str, tmp_path: Path, worker: IngestWorker
) -> None:
    context = CloudContext.build(CloudSettings(db=db_url, key_dir=tmp_path / "keys"), mqtt_url=None)
    context.factory = factory
    context.workers.append(worker)
    with TestClient(create_app(context)) as client:
        assert client.get("/healthz").status_code == 200
        worker.stop()
        answer = client.get("/healthz")
        assert answer.status_code == 503
        assert answer.json()["ingest"][worker.name] == "dead"
    context.close()


ODD_VALUES: list[Any] = [
    None, True, -1, 0, 2**31, 2**63, -(2**63) - 1, 10**400, 1e308, -0.0, "", "x" * 5000, "\ud800", "零",
    [], {}, [1, [2, [3]]], {"a": {"b": None}}, "2026-02-30T00:00:00+00:00", str(uuid.UUID(int=0)),
]  # fmt: skip


def mutations(seed: int, count: int, valid: list[dict[str, Any]]) -> Iterator[bytes]:
    """Seeded mutations of valid payloads: a field replaced, removed or added, or the bytes cut."""
    rng = random.Random(seed)
    for _ in range(count):
        payload = json.loads(json.dumps(rng.choice(valid)))
        key = rng.choice(sorted(payload))
        match rng.randrange(4):
            case 0:
                payload[key] = rng.choice(ODD_VALUES)
            case 1:
                del payload[key]
            case 2:
                payload[f"extra_{rng.randrange(9)}"] = rng.choice(ODD_VALUES)
            case _:
                raw = json.dumps(payload).encode()
                yield raw[: rng.randrange(len(raw))]
                continue
        yield json.dumps(payload).encode()


def test_fuzzed_payloads_on_every_channel_neither_crash_nor_fail_unexpectedly(
    factory: sessionmaker[Session], signer: CommandSigner, worker: IngestWorker, cabinets: dict[str, Cabinet_]
) -> None:
    b = cabinets[B]
    sid = open_visit(factory, signer, cabinet=B)
    command_id = uuid.UUID(visit_of(factory, sid).command_id)
    valid = {
        Channel.EVENTS: [
            json.loads(encode(door(b, sid, "opened"))),
            json.loads(encode(result(b, sid, [LaneDelta(channel=0, lane=0, sku="coke-330", delta=-1)]))),
            json.loads(
                encode(
                    AlarmEvent(
                        event_id=uuid.uuid4(),
                        seq=3,
                        cabinet_id=B,
                        alarm="forced_open",
                        state="raised",
                        door=0,
                    )
                )
            ),
        ],
        Channel.ACK: [json.loads(encode(Ack(command_id=command_id, status="accepted", session_id=sid)))],
        Channel.STATUS: [json.loads(encode(Status(state="online")))],
        Channel.TELEMETRY: [json.loads(encode(Telemetry(temperatures_c=[4.0], doors=[], weights=[])))],
    }
    b.seq = 0
    before = worker.handled
    sent = 0
    for n, (channel, payloads) in enumerate(valid.items()):
        for raw in mutations(seed=1000 + n, count=80, valid=payloads):
            b.send(channel, raw)
            sent += 1
    wait_until(lambda: worker.handled >= before + sent, timeout=60, what="every fuzzed message handled")
    assert worker.alive()
    assert worker.failures == 0, "a payload reached code that did not expect it"
    b.seq = 10_000
    last = door(b, sid, "closed")
    b.send(Channel.EVENTS, last)

    def stored() -> bool:
        with factory() as db:
            return db.get(ProcessedEvent, str(last.event_id)) is not None

    wait_until(stored, what="ingest still stores events")
