"""POST /api/v1/top-ups: staff credit a resident once per top-up id (both databases)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy.orm import Session, sessionmaker

from tests.cloud.api_roles import add_other_store, api_client, role_headers

PHONE = "13800138000"


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Any:
    add_other_store(factory)
    with api_client(factory, db_url, tmp_path) as test_client:
        yield test_client


def test_a_top_up_counts_once(client: TestClient, factory: sessionmaker[Session]) -> None:
    headers = role_headers(client, factory)
    before = client.get("/api/v1/auth/me", headers=headers["resident"]).json()["balance_fen"]
    body = {"phone": PHONE, "amount_fen": 5000, "top_up_id": "counter-1-0001"}
    for _ in range(2):  # the counter's retry
        answer = client.post("/api/v1/top-ups", json=body, headers=headers["staff"])
        assert answer.status_code == 200, answer.text
        assert answer.json()["balance_fen"] == before + 5000
    again = client.post(
        "/api/v1/top-ups", json={**body, "top_up_id": "counter-1-0002"}, headers=headers["staff"]
    )
    assert again.json()["balance_fen"] == before + 10000
    assert client.get("/api/v1/auth/me", headers=headers["resident"]).json()["balance_fen"] == before + 10000


def test_refusals_have_codes(client: TestClient, factory: sessionmaker[Session]) -> None:
    headers = role_headers(client, factory)
    unknown = {"phone": "19999999999", "amount_fen": 100, "top_up_id": "counter-1-0003"}
    answer = client.post("/api/v1/top-ups", json=unknown, headers=headers["staff"])
    assert (answer.status_code, answer.json()["code"]) == (404, "no_resident")
    answer = client.post("/api/v1/top-ups", json={**unknown, "phone": PHONE}, headers=headers["resident"])
    assert (answer.status_code, answer.json()["code"]) == (403, "role_needed")
    too_much = {**unknown, "phone": PHONE, "amount_fen": 100_001}
    assert client.post("/api/v1/top-ups", json=too_much, headers=headers["staff"]).status_code == 422
