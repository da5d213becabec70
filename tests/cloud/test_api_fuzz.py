"""Hostile HTTP input: never a 500, always a documented status, content type and body.

Schemathesis generates requests for every operation in /openapi.json (seeded, bounded) and sends
each one without a token and with the token of a resident, a restocker and ops; every built-in
check runs on every answer. The session stream never ends while a session is live, so it is left
out of the generated run and tested by hand below.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import schemathesis
from fastapi.testclient import TestClient
from hypothesis import HealthCheck, settings
from sqlalchemy.orm import Session, sessionmaker

from tests.cloud.api_roles import add_other_store, api_client, role_headers

FUZZ_ROLES = ("none", "resident", "staff", "ops")


@pytest.fixture
def api(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    add_other_store(factory)
    with api_client(factory, db_url, tmp_path) as client:
        yield client


@pytest.fixture
def headers(api: TestClient, factory: sessionmaker[Session]) -> dict[str, dict[str, str]]:
    return role_headers(api, factory)


@pytest.fixture
def api_schema(api: TestClient) -> Any:
    # The stream of a live session never ends: tested by hand (test_session_stream_*).
    return schemathesis.openapi.from_asgi("/openapi.json", api.app).exclude(path_regex=r"/stream$")


schema = schemathesis.pytest.from_fixture("api_schema")


@schema.parametrize()
@settings(
    max_examples=50,
    derandomize=True,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
def test_every_operation_survives_generated_input(case: Any, headers: dict[str, dict[str, str]]) -> None:
    for role in FUZZ_ROLES:
        case.call_and_validate(headers=headers[role])


# -- the cases the issue reported, by hand --------------------------------------------------

HOSTILE: list[tuple[str, str, dict[str, Any]]] = [
    ("GET", "/api/v1/cabinets/XH-0001/telemetry?hours=2147483648", {}),
    ("GET", "/api/v1/cabinets/XH-0001/telemetry?hours=1e308", {}),
    ("GET", "/api/v1/cabinets/XH-0001/telemetry?hours=nan", {}),
    ("GET", "/api/v1/cabinets/XH-0001/telemetry?hours=-1", {}),
    ("GET", "/api/v1/stores/1/picklist?interval_hours=2147483648", {}),
    ("GET", "/api/v1/stores/1/picklist.csv?interval_hours=inf", {}),
    ("GET", "/api/v1/stores/18446744073709551616/picklist", {}),
    ("GET", "/api/v1/stores/2147483648/inventory", {}),
    ("POST", "/api/v1/alarms/18446744073709551616/ack", {}),
    ("POST", "/api/v1/alarms/9223372036854775807/ack", {}),
    ("GET", "/api/v1/cabinets/XH-0001/sessions?limit=18446744073709551616", {}),
    ("GET", "/api/v1/cabinets/XH-0001/sessions?limit=-5", {}),
    ("GET", "/api/v1/alarms?cabinet=" + "X" * 5000, {}),
    ("GET", "/api/v1/sessions/" + "s" * 5000, {}),
    (
        "POST",
        "/api/v1/cabinets/XH-0001/planogram/changes",
        {"json": {"channel": 18446744073709551616, "lane": 0, "sku": "coke-330"}},
    ),
    (
        "POST",
        "/api/v1/cabinets/XH-0001/planogram/changes",
        {"content": '{"channel": 1, "lane": 1, "sku": "\\ud800"}'},
    ),
    (
        "POST",
        "/api/v1/cabinets/XH-0001/planogram/changes",
        {"json": {"channel": 9, "lane": 9, "sku": "coke-330"}},
    ),
    ("POST", "/api/v1/auth/login", {"content": '{"username": "\\udcff", "password": "x"}'}),
    ("POST", "/api/v1/auth/login", {"content": b'{"username": "\xff\xfe", "password": "x"}'}),
    ("POST", "/api/v1/auth/login", {"json": {"username": "ops", "password": "x" * 100_000}}),
    ("POST", "/api/v1/cabinets/XH-0001/sessions", {"content": '{"door": NaN}'}),
    ("POST", "/api/v1/sessions/nope/review", {"json": {"candidate": 18446744073709551616}}),
    (
        "POST",
        "/api/v1/sessions/nope/review",
        {"content": '{"lanes": [{"channel": 1, "lane": 1, "sku": "\\ud800", "delta": -1}]}'},
    ),
]


def test_reported_hostile_input_is_refused_clearly(
    api: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    wrong = []
    for method, url, send in HOSTILE:
        content_type = {"content-type": "application/json"} if "content" in send else {}
        for role in ("staff", "ops", "admin"):
            answer = api.request(method, url, **send, headers={**content_type, **headers[role]})
            if not (
                400 <= answer.status_code < 500
                and answer.headers["content-type"] == "application/json"
                and answer.json()["detail"]
            ):
                wrong.append(f"{method} {url[:80]} as {role}: {answer.status_code} {answer.text[:100]}")
    assert wrong == []


GARBAGE_TOKENS = [
    "é",
    "ünïcödé.tökén.sïg",
    "1.2.3",
    "1.99999999999999999999.x",
    "." * 10_000,
    "9" * 400 + ".1.a",
]


def test_any_garbage_token_is_401(api: TestClient) -> None:
    for token in GARBAGE_TOKENS:
        header = [(b"authorization", b"Bearer " + token.encode())]
        for answer in (api.get("/api/v1/auth/me", headers=header), api.get(f"/api/v1/auth/me?token={token}")):
            assert answer.status_code == 401, (token[:20], answer.text)
            assert answer.json()["detail"]
    for raw in (b"\xff\xfe", b"\x00", "é".encode("latin-1")):
        assert api.get("/api/v1/auth/me", headers=[(b"authorization", b"Bearer " + raw)]).status_code == 401


def test_session_stream_refuses_strangers_before_it_starts(
    api: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    opened = _open_a_session(api, headers)
    url = f"/api/v1/sessions/{opened}/stream"
    assert api.get(url).status_code == 401
    refused = api.get(url, headers=headers["other_resident"])
    assert refused.status_code == 403
    assert refused.headers["content-type"] == "application/json"
    assert api.get("/api/v1/sessions/nope/stream", headers=headers["resident"]).status_code == 404


def test_session_stream_of_a_final_session_is_event_stream(
    api: TestClient, headers: dict[str, dict[str, str]]
) -> None:
    opened = _open_a_session(api, headers, final=True)
    answer = api.get(f"/api/v1/sessions/{opened}/stream", headers=headers["resident"])
    assert answer.status_code == 200
    assert answer.headers["content-type"].startswith("text/event-stream")
    assert '"status": "failed"' in answer.text


def _open_a_session(api: TestClient, headers: dict[str, dict[str, str]], final: bool = False) -> str:
    from cloud.db.engine import transaction
    from cloud.domain import ingest
    from protocols.mqtt.schemas import Status

    factory = api.app.state.context.factory  # type: ignore[attr-defined]
    with transaction(factory) as db:
        ingest.on_status(db, "XH-0001", Status(state="online"))
    opened = api.post("/api/v1/cabinets/XH-0001/sessions", headers=headers["resident"], json={"door": 0})
    assert opened.status_code == 201, opened.text
    session_id = str(opened.json()["session_id"])
    if final:
        from cloud.db.models import Session as Visit

        with transaction(factory) as db:
            visit = db.get(Visit, session_id)
            assert visit is not None
            visit.status, visit.holds_door = "failed", None
    return session_id
