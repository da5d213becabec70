"""GET /api/v1/alarms: filtered by state, kind, store and cabinet, a page at a time, in the caller's store."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.models import Cabinet
from cloud.domain import alarms
from tests.cloud.api_roles import add_other_store, api_client, role_headers


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Any:
    add_other_store(factory)
    with transaction(factory) as db:
        cabinets = {c.code: c for c in db.scalars(select(Cabinet))}
        for n in range(30):  # a stock alarm on every lane-ish key of two cabinets
            code = "XH-0001" if n % 2 else "XH-0002"
            alarms.raise_alarm(db, cabinets[code], "low_stock", f"0-{n}", params={"sku": "coke-330"})
        alarms.raise_alarm(db, cabinets["XH-0003"], "offline", params={"silence_s": 60})
        alarms.resolve(db, cabinets["XH-0003"], "offline")
        alarms.raise_alarm(
            db, cabinets["XH-0004"], "forced_open", "0", params={"alarm": "forced_open", "door": 0}
        )
    with api_client(factory, db_url, tmp_path) as test_client:
        yield test_client


def listing(client: TestClient, headers: dict[str, str], **query: Any) -> tuple[list[dict[str, Any]], int]:
    answer = client.get("/api/v1/alarms", params=query, headers=headers)
    assert answer.status_code == 200, answer.text
    return answer.json(), int(answer.headers["X-Total-Count"])


def test_filters_and_pages(client: TestClient, factory: sessionmaker[Session]) -> None:
    ops = role_headers(client, factory)["ops"]
    everything, total = listing(client, ops)
    assert total == len(everything) == 32
    first, total = listing(client, ops, kind="low_stock", page_size=20)
    second, _ = listing(client, ops, kind="low_stock", page_size=20, page=2)
    assert total == 30
    assert len(first) == 20
    assert len(second) == 10
    assert {a["id"] for a in first} & {a["id"] for a in second} == set()  # pages do not overlap
    assert [a["opened_at"] for a in first + second] == sorted(
        (a["opened_at"] for a in first + second), reverse=True
    )
    mine, total = listing(client, ops, kind="low_stock", cabinet="XH-0001")
    assert total == 15
    assert {a["cabinet_code"] for a in mine} == {"XH-0001"}
    resolved, _ = listing(client, ops, state="resolved")
    assert [(a["kind"], a["params"]) for a in resolved] == [("offline", {"silence_s": 60})]
    still_open, total = listing(client, ops, state="open")
    assert total == 31
    assert "resolved" not in {a["state"] for a in still_open}
    forced, _ = listing(client, ops, kind="forced_open", state="open")
    assert [(a["cabinet_code"], a["params"]) for a in forced] == [
        ("XH-0004", {"alarm": "forced_open", "door": 0})
    ]
    store = client.get("/api/v1/cabinets/XH-0001", headers=ops).json()["store_id"]
    _, total = listing(client, ops, store=store)
    assert total == 32


def test_another_store_sees_none_and_may_not_ask(client: TestClient, factory: sessionmaker[Session]) -> None:
    headers = role_headers(client, factory)
    assert listing(client, headers["other_staff"]) == ([], 0)
    store = client.get("/api/v1/cabinets/XH-0001", headers=headers["ops"]).json()["store_id"]
    assert (
        client.get("/api/v1/alarms", params={"store": store}, headers=headers["other_staff"]).status_code
        == 403
    )
    _, total = listing(client, headers["admin"], store=store, kind="offline")
    assert total == 1


@pytest.mark.parametrize(
    "query", [{"page": 0}, {"page_size": 0}, {"page_size": 201}, {"store": 0}, {"kind": ""}]
)
def test_bad_pages_are_422(client: TestClient, factory: sessionmaker[Session], query: dict[str, Any]) -> None:
    ops = role_headers(client, factory)["ops"]
    assert client.get("/api/v1/alarms", params=query, headers=ops).status_code == 422
