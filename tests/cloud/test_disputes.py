"""Disputes through the HTTP API on both databases: a resident objects to a receipt within 48 hours, ops
of the store see the evidence and refund through the payment ledger, once, saying who and why."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CommandSigner
from cloud.db.engine import transaction
from cloud.db.models import Payment, User
from cloud.db.models import Session as Visit
from cloud.domain import ingest, sessions
from cloud.domain.payments import PrepaidBalance
from protocols.mqtt.schemas import LaneDelta, SessionResult, Status
from tests.cloud.api_roles import add_other_store, api_client, role_headers
from tests.cloud.conftest import deliver_payments

CAB = "XH-0001"
COKES = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=-2)]  # 2 × 3.50


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    add_other_store(factory)
    with api_client(factory, db_url, tmp_path) as test_client:
        yield test_client


def bought(factory: sessionmaker[Session], signer: CommandSigner) -> str:
    """王芳 took two cokes and was charged ¥7.00."""
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
        resident = db.scalar(select(User).where(User.name == "王芳"))
        assert resident is not None
        visit = sessions.open_session(
            db, user=resident, cabinet_code=CAB, door=0, mode="resident",
            signer=signer, provider=PrepaidBalance(), hold_fen=5000,
        )  # fmt: skip
        sid = visit.id
    now = datetime.now(UTC)
    result = SessionResult(
        event_id=uuid.uuid4(), seq=1, cabinet_id=CAB, session_id=sid, command_id=uuid.uuid4(), door=0,
        mode="resident", outcome="completed", unlocked_at=now - timedelta(seconds=20), lanes=COKES,
    )  # fmt: skip
    with transaction(factory) as db:
        ingest.store_event(db, CAB, result)
    deliver_payments(factory)
    return sid


def balance(factory: sessionmaker[Session]) -> int:
    deliver_payments(factory)
    with factory() as db:
        return int(db.scalar(select(User.balance_fen).where(User.name == "王芳")) or 0)


def test_a_disputed_receipt_is_refunded_once_with_who_and_why(
    client: TestClient, factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    who = role_headers(client, factory)
    sid = bought(factory, signer)
    charged = balance(factory)
    assert charged == 20000 - 700
    objection = {"reason": "I took one coke, not two"}
    assert (
        client.post(
            f"/api/v1/sessions/{sid}/dispute", json=objection, headers=who["other_resident"]
        ).status_code
        == 403
    )
    answer = client.post(f"/api/v1/sessions/{sid}/dispute", json=objection, headers=who["resident"])
    assert answer.status_code == 201, answer.text
    assert answer.json()["dispute"]["state"] == "open"
    again = client.post(f"/api/v1/sessions/{sid}/dispute", json=objection, headers=who["resident"])
    assert (again.status_code, again.json()["code"]) == (409, "already_disputed")

    assert client.get("/api/v1/disputes", headers=who["resident"]).status_code == 403
    assert client.get("/api/v1/disputes", headers=who["other_staff"]).status_code == 403
    [found] = client.get("/api/v1/disputes", headers=who["ops"]).json()
    assert found["reason"] == "I took one coke, not two"
    assert found["resident"].startswith("王芳")
    assert found["session"]["amount_fen"] == 700
    assert found["session"]["result"]["lanes"] == [lane.model_dump() for lane in COKES]  # the sensor trace

    decide = f"/api/v1/disputes/{found['id']}/decision"
    too_much = client.post(decide, json={"refund_fen": 701, "note": "x"}, headers=who["ops"])
    assert (too_much.status_code, too_much.json()["code"]) == (409, "refund_too_large")
    decided = client.post(
        decide, json={"refund_fen": 350, "note": "one can stayed: trace shows −350 g"}, headers=who["ops"]
    )
    assert decided.status_code == 200, decided.text
    assert (decided.json()["state"], decided.json()["decided_by"]) == ("refunded", "ops")
    twice = client.post(decide, json={"refund_fen": 350, "note": "again"}, headers=who["ops"])
    assert (twice.status_code, twice.json()["code"]) == (409, "dispute_decided")
    assert balance(factory) == charged + 350
    with factory() as db:
        refunds = db.scalars(select(Payment).where(Payment.session_id == sid, Payment.kind == "refund")).all()
        assert [r.amount_fen for r in refunds] == [350]
    mine = client.get(f"/api/v1/sessions/{sid}", headers=who["resident"]).json()
    assert mine["dispute"]["state"] == "refunded"
    assert mine["dispute"]["decision_note"].startswith("one can stayed")


def test_a_rejected_dispute_moves_no_money(
    client: TestClient, factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    who = role_headers(client, factory)
    sid = bought(factory, signer)
    client.post(f"/api/v1/sessions/{sid}/dispute", json={"reason": "not me"}, headers=who["resident"])
    [found] = client.get("/api/v1/disputes", headers=who["ops"]).json()
    note = {"refund_fen": 0, "note": "both cans left the shelf: −700 g"}
    decided = client.post(f"/api/v1/disputes/{found['id']}/decision", json=note, headers=who["ops"])
    assert decided.json()["state"] == "rejected"
    assert balance(factory) == 20000 - 700


def test_receipts_can_be_disputed_for_48_hours_only(
    client: TestClient, factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    who = role_headers(client, factory)
    sid = bought(factory, signer)
    with transaction(factory) as db:
        db.execute(
            update(Visit).where(Visit.id == sid).values(settled_at=datetime.now(UTC) - timedelta(hours=49))
        )
    late = client.post(f"/api/v1/sessions/{sid}/dispute", json={"reason": "late"}, headers=who["resident"])
    assert (late.status_code, late.json()["code"]) == (409, "dispute_too_late")
