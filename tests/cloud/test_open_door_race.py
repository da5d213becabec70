"""One live session per door, enforced by the database, whatever the callers do at the same instant."""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import func, select
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
