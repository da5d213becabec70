"""One live session per door, enforced by the database, whatever the callers do at the same instant."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import delete, func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud import Refused
from cloud.app import create_app
from cloud.commands import CommandSigner
from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import Payment, User
from cloud.db.models import Session as Visit
from cloud.domain import ingest, sessions
from cloud.domain.payments import PrepaidBalance
from cloud.settings import CloudSettings
from protocols.mqtt.schemas import Status
from tests.cloud.test_api import bearer, resident_token

CAB = "XH-0001"
PHONES = ["13800138000", "13900139000", "13700137000", "13600136000", "13500135000"]


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    context = CloudContext.build(CloudSettings(db=db_url, key_dir=tmp_path / "keys"), mqtt_url=None)
    context.factory = factory
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
        for n, phone in enumerate(PHONES):  # five funded residents
            if db.scalar(select(User).where(User.phone == phone)) is None:
                db.add(
                    User(name=f"race-{n}", phone=phone, role="resident", balance_fen=20000, locale="zh-CN")
                )
    with TestClient(create_app(context)) as test_client:
        yield test_client
    context.close()


def test_parallel_opens_of_one_door_give_one_session_one_hold(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    tokens = [resident_token(client, phone) for phone in PHONES] * 2
    start = threading.Barrier(len(tokens))
    answers: list[int] = []

    def open_door(token: str) -> None:
        start.wait()
        answers.append(client.post(f"/api/v1/cabinets/{CAB}/sessions", headers=bearer(token)).status_code)

    threads = [threading.Thread(target=open_door, args=(t,)) for t in tokens]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(answers) == {201: 1, 409: len(tokens) - 1}
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(Visit)) == 1
        assert db.scalar(select(func.count()).select_from(Payment).where(Payment.kind == "hold")) == 1
        assert db.scalar(select(func.sum(User.held_fen))) == 5000


def test_parallel_opens_in_the_domain_race_on_the_index(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
    start = threading.Barrier(4)
    outcomes: list[str] = []

    def open_door(name: str) -> None:
        start.wait()
        try:
            with transaction(factory) as db:
                resident = db.scalar(select(User).where(User.name == name))
                assert resident is not None
                sessions.open_session(
                    db,
                    user=resident,
                    cabinet_code=CAB,
                    door=0,
                    mode="resident",
                    signer=signer,
                    provider=PrepaidBalance(),
                    hold_fen=100,
                )
            outcomes.append("opened")
        except Refused as refused:
            outcomes.append("refused" if "someone else" in str(refused) else str(refused))

    threads = [threading.Thread(target=open_door, args=(n,)) for n in ["王芳", "张敏", "王芳", "张敏"]]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert Counter(outcomes) == {"opened": 1, "refused": 3}


def test_a_door_the_cabinet_does_not_have_is_refused_before_any_hold(client: TestClient) -> None:
    token = resident_token(client)
    before = client.get("/api/v1/auth/me", headers=bearer(token)).json()["available_fen"]
    answer = client.post(f"/api/v1/cabinets/{CAB}/sessions", json={"door": 7}, headers=bearer(token))
    assert answer.status_code == 409
    assert "door" in answer.json()["detail"]
    assert client.get("/api/v1/auth/me", headers=bearer(token)).json()["available_fen"] == before


def test_a_finished_session_frees_the_door(factory: sessionmaker[Session], signer: CommandSigner) -> None:
    def open_door() -> str:
        with transaction(factory) as db:
            resident = db.scalar(select(User).where(User.name == "王芳"))
            assert resident is not None
            visit = sessions.open_session(
                db, user=resident, cabinet_code=CAB, door=0, mode="resident",
                signer=signer, provider=PrepaidBalance(), hold_fen=100,
            )  # fmt: skip
            return visit.id

    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
    first = open_door()
    with transaction(factory) as db:
        sessions.expire_stale(db, ttl=-sessions.STALE_AFTER)  # the cabinet never answered
    assert open_door() != first


def test_a_holder_the_cabinet_forgot_lets_go_of_the_door_at_the_next_open(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    """A live session older than STALE_AFTER (its gateway never said how it ended) no longer holds
    the door: the next resident's open takes it, and the old visit stays where it was."""
    first = client.post(f"/api/v1/cabinets/{CAB}/sessions", headers=bearer(resident_token(client)))
    assert first.status_code == 201, first.text
    other = bearer(resident_token(client, PHONES[4]))
    busy = client.post(f"/api/v1/cabinets/{CAB}/sessions", headers=other)
    assert busy.status_code == 409
    assert busy.json()["code"] == "door_busy"
    with transaction(factory) as db:
        forgotten = db.get(Visit, first.json()["session_id"])
        assert forgotten is not None
        forgotten.created_at -= sessions.STALE_AFTER + timedelta(seconds=1)
    second = client.post(f"/api/v1/cabinets/{CAB}/sessions", headers=other)
    assert second.status_code == 201, second.text
    with factory() as db:
        holders = db.scalars(select(Visit.id).where(Visit.holds_door.is_(True))).all()
        assert holders == [second.json()["session_id"]]


def test_one_residents_opens_at_two_cabinets_at_once_never_hold_more_than_the_balance(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    """The hold is one conditional UPDATE of the balance: two opens racing on two doors cannot both
    pass a check of the same balance."""
    with transaction(factory) as db:
        ingest.on_status(db, "XH-0003", Status(state="online"))
        resident = db.scalar(select(User).where(User.phone == PHONES[2]))
        assert resident is not None
        resident.balance_fen, resident.held_fen = 5000, 0  # exactly one hold's worth
    token = resident_token(client, PHONES[2])
    start = threading.Barrier(2)
    answers: list[tuple[int, str]] = []

    def open_door(cabinet: str) -> None:
        start.wait()
        answer = client.post(f"/api/v1/cabinets/{cabinet}/sessions", headers=bearer(token))
        answers.append((answer.status_code, answer.json().get("code", "")))

    threads = [threading.Thread(target=open_door, args=(c,)) for c in (CAB, "XH-0003")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(answers) == [(201, ""), (409, "balance_low")]
    with factory() as db:
        resident = db.scalar(select(User).where(User.phone == PHONES[2]))
        assert resident is not None
        assert resident.held_fen == 5000
        holds = select(func.count()).select_from(Payment).where(Payment.user_id == resident.id)
        assert db.scalar(holds.where(Payment.kind == "hold")) == 1


def test_a_deleted_accounts_token_opens_nothing(client: TestClient, factory: sessionmaker[Session]) -> None:
    token = resident_token(client, PHONES[3])
    with transaction(factory) as db:
        db.execute(delete(User).where(User.phone == PHONES[3]))
    answer = client.post(f"/api/v1/cabinets/{CAB}/sessions", headers=bearer(token))
    assert answer.status_code == 401
    assert answer.json()["code"] == "account_gone"
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(Visit)) == 0
