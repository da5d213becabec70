"""A batched ingest worker killed (SIGKILL) in the middle of its work loses nothing and charges nothing twice.

The worker runs as its own process (`vendfleet cloud ingest`) on a real Mosquitto; a gateway-like sender
keeps every event until an evack covers it, as the gateway's outbox does.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CommandSigner
from cloud.db.engine import transaction
from cloud.db.models import Cabinet, Payment, PlanogramLane, ProcessedEvent, User
from cloud.domain import ingest, ledger, sessions
from cloud.domain.payments import PrepaidBalance
from firmware_sim.demo.servers import MosquittoServer
from protocols.mqtt.schemas import DoorEvent, EvAck, LaneDelta, SessionResult, Status, encode, parse
from protocols.mqtt.topics import Channel, topic
from tests.cloud.conftest import deliver_payments

CAB = "XH-0002"
VISITS = 20
DOOR_EVENTS = 1200
VENDFLEET = str(Path(sys.executable).parent / "vendfleet")
REPO = Path(__file__).parents[2]


class Outbox:
    """Events kept until acknowledged; re-sent in a window, like the gateway's outbox."""

    def __init__(self, port: int, events: list[bytes]) -> None:
        self.events = dict(enumerate(events, start=1))
        self.acked = 0
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe(topic(CAB, Channel.EVACK), qos=1)
        self.client.on_message = self._on_evack
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_evack(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        self.acked = max(self.acked, parse(EvAck, message.payload).seq)

    def send_unacked(self, window: int = 400) -> None:
        start = self.acked + 1
        for seq in range(start, min(start + window, len(self.events) + 1)):
            self.client.publish(topic(CAB, Channel.EVENTS), self.events[seq], qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def open_visits(factory: sessionmaker[Session], signer: CommandSigner) -> tuple[list[str], LaneDelta, int]:
    """VISITS resident sessions on one door (each freed at once, as if the door had closed)."""
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        lane = db.scalar(select(PlanogramLane).where(PlanogramLane.cabinet_id == cabinet.id).limit(1))
        assert lane is not None
        taken = LaneDelta(channel=lane.channel, lane=lane.lane, sku=lane.product.sku, delta=-1)
        price, door = lane.product.price_fen, lane.door
    ids = []
    for _ in range(VISITS):
        with transaction(factory) as db:
            resident = db.scalar(select(User).where(User.name == "陈静"))
            assert resident is not None
            visit = sessions.open_session(
                db, user=resident, cabinet_code=CAB, door=door, mode="resident",
                signer=signer, provider=PrepaidBalance(), hold_fen=price,
            )  # fmt: skip
            visit.holds_door = None
            ids.append(visit.id)
    return ids, taken, price


def event_stream(visits: list[str], taken: LaneDelta) -> list[bytes]:
    now = datetime.now(UTC)
    events: list[Any] = []
    for n in range(DOOR_EVENTS):
        action = "opened" if n % 2 == 0 else "closed"
        events.append(dict(kind="door", door=0, action=action))
    for n, sid in enumerate(visits):
        at = (n + 1) * DOOR_EVENTS // (VISITS + 1)
        events.insert(at, dict(kind="result", sid=sid))
    payloads = []
    for seq, spec in enumerate(events, start=1):
        common = dict(event_id=uuid.uuid4(), seq=seq, cabinet_id=CAB)
        if spec["kind"] == "door":
            payloads.append(encode(DoorEvent(**common, door=spec["door"], action=spec["action"])))
        else:
            result = SessionResult(
                **common, session_id=spec["sid"], command_id=uuid.uuid4(), door=0, mode="resident",
                outcome="completed", unlocked_at=now - timedelta(seconds=30), lanes=[taken],
            )  # fmt: skip
            payloads.append(encode(result))
    return payloads


@pytest.fixture
def worker_process() -> Iterator[list[subprocess.Popen[bytes]]]:
    started: list[subprocess.Popen[bytes]] = []
    yield started
    for proc in started:
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def start_worker(
    db_url: str, mosquitto: MosquittoServer, tmp_path: Path, command: list[str] | None = None
) -> subprocess.Popen[bytes]:
    argv = [*(command or [VENDFLEET, "cloud", "ingest"]), "--db", db_url, "--mqtt", mosquitto.url]
    argv += ["--share-group", f"kill{uuid.uuid4().hex[:6]}", "--key-dir", str(tmp_path / "keys")]
    with (tmp_path / "ingest.log").open("ab") as log:
        return subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, env=dict(os.environ), cwd=REPO)


def snapshot(factory: sessionmaker[Session]) -> tuple[dict[tuple[int, int], int], int | None]:
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        stock = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
        return stock, db.scalar(select(User.balance_fen).where(User.name == "陈静"))


def assert_once_each(
    factory: sessionmaker[Session],
    total: int,
    visits: list[str],
    taken: LaneDelta,
    price: int,
    before: tuple[dict[tuple[int, int], int], int | None],
) -> None:
    """Every event stored once, every visit charged once: the stock ledger and the balance agree."""
    stock, balance = before
    assert balance is not None
    deliver_payments(factory)  # the cloud's dispatcher would, right after each batch
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        stored = (
            select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.cabinet_id == cabinet.id)
        )
        assert db.scalar(stored) == total
        captures = db.scalar(select(func.count()).select_from(Payment).where(Payment.kind == "capture"))
        assert captures == len(visits)
        assert db.scalar(select(User.balance_fen).where(User.name == "陈静")) == balance - len(visits) * price
        after = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
        key = (taken.channel, taken.lane)
        assert after[key] == stock[key] - len(visits)
        assert all(sessions.get_session(db, sid).status == "settled" for sid in visits)


@pytest.mark.postgres
@pytest.mark.timeout(180)
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
@pytest.mark.parametrize("point", ["before_commit", "before_evack"])
def test_a_worker_killed_inside_a_batch_of_charges_loses_nothing_and_charges_once(
    point: str,
    factory: sessionmaker[Session],
    signer: CommandSigner,
    db_url: str,
    mosquitto: MosquittoServer,
    tmp_path: Path,
    worker_process: list[subprocess.Popen[bytes]],
) -> None:
    """Killed with a batch's SQL sent but not committed, or committed but not yet acknowledged."""
    visits, taken, price = open_visits(factory, signer)
    before = snapshot(factory)
    outbox = Outbox(mosquitto.port, event_stream(visits, taken))
    total = len(outbox.events)
    marker = tmp_path / "killed-with"
    crashing = [sys.executable, "-m", "tests.cloud.crashing_ingest", point, str(marker), "--"]
    try:
        worker_process.append(start_worker(db_url, mosquitto, tmp_path, crashing))
        deadline = time.monotonic() + 150
        while outbox.acked < total and time.monotonic() < deadline:
            outbox.send_unacked()
            time.sleep(0.3)
            if len(worker_process) == 1 and worker_process[0].poll() is not None:
                assert worker_process[0].returncode == -signal.SIGKILL, (tmp_path / "ingest.log").read_text()
                worker_process.append(start_worker(db_url, mosquitto, tmp_path))
        assert len(worker_process) == 2, "the worker never met a batch of several events with a charge"
        assert int(marker.read_text()) > 1
        assert outbox.acked == total, f"{outbox.acked} of {total} acknowledged"
    finally:
        outbox.close()
    assert_once_each(factory, total, visits, taken, price, before)


@pytest.mark.timeout(240)  # three worker processes start in turn
def test_a_worker_killed_mid_batch_loses_nothing_and_charges_once(
    factory: sessionmaker[Session],
    signer: CommandSigner,
    db_url: str,
    mosquitto: MosquittoServer,
    tmp_path: Path,
    worker_process: list[subprocess.Popen[bytes]],
) -> None:
    visits, taken, price = open_visits(factory, signer)
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        before = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
        balance = db.scalar(select(User.balance_fen).where(User.name == "陈静"))
    outbox = Outbox(mosquitto.port, event_stream(visits, taken))
    total = len(outbox.events)
    kills = 0
    try:
        worker_process.append(start_worker(db_url, mosquitto, tmp_path))
        deadline = time.monotonic() + 200
        while outbox.acked < total and time.monotonic() < deadline:
            outbox.send_unacked()
            time.sleep(0.3)
            # Kill the worker twice while it has work in hand, then let a fresh one finish.
            if kills < 2 and outbox.acked > (kills + 1) * total // 4:
                worker_process[-1].send_signal(signal.SIGKILL)
                worker_process[-1].wait()
                kills += 1
                worker_process.append(start_worker(db_url, mosquitto, tmp_path))
        assert kills == 2
        assert outbox.acked == total, f"{outbox.acked} of {total} acknowledged"
    finally:
        outbox.close()
    deliver_payments(factory)
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        stored = (
            select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.cabinet_id == cabinet.id)
        )
        assert db.scalar(stored) == total
        captures = db.scalar(select(func.count()).select_from(Payment).where(Payment.kind == "capture"))
        assert captures == VISITS
        assert db.scalar(select(User.balance_fen).where(User.name == "陈静")) == balance - VISITS * price
        after = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
        key = (taken.channel, taken.lane)
        assert after[key] == before[key] - VISITS
        assert all(sessions.get_session(db, sid).status == "settled" for sid in visits)
