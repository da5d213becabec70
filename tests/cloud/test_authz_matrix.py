"""Every route × every role: the expected answer of each cell, written out.

A route added without a row here fails `test_every_route_has_a_row`. Rows that change something
get a fresh target per cell (`fresh`), so the order of the columns does not matter.
Pages are public shells (their data comes from the API with the caller's token), hence 200 for all.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.models import Cabinet, ColdChainIncident, Dispute, ScaleRecalibration, Store, User
from cloud.db.models import Session as Visit
from cloud.domain import alarms
from cloud.domain.session_states import LIVE
from tests.cloud.api_roles import ROLES, add_other_store, api_client, role_headers

Fresh = Callable[[Session], dict[str, Any]]


@dataclass(frozen=True)
class Row:
    expected: tuple[int, ...]  # one status per role, in the order of ROLES
    url: str  # the route's path with {placeholders} filled from the fleet (and `fresh`)
    body: Any = None
    fresh: Fresh | None = None  # makes a new target for each cell, in its own transaction
    query: dict[str, Any] = field(default_factory=dict)


def cabinet(db: Session) -> Cabinet:
    found = db.scalar(select(Cabinet).where(Cabinet.code == "XH-0001"))
    assert found is not None
    return found


def user_id(db: Session, name: str) -> int:
    found = db.scalar(select(User.id).where(User.name == name))
    assert found is not None
    return found


def visit(db: Session, owner: str, status: str, mode: str = "resident", **fields: Any) -> dict[str, Any]:
    sid = uuid.uuid4().hex[:16]
    db.add(
        Visit(
            id=sid,
            cabinet_id=cabinet(db).id,
            user_id=user_id(db, owner),
            mode=mode,
            status=status,
            command_id=str(uuid.uuid4()),
            **fields,
        )
    )
    return {"session_id": sid}


def to_choose(db: Session) -> dict[str, Any]:
    return visit(db, "王芳", "choose", result={"lanes": [], "candidates": [], "offers": []})


def receipt(db: Session) -> dict[str, Any]:
    return visit(db, "王芳", "settled", amount_fen=700, settled_at=datetime.now(UTC), result={"lanes": []})


def disputed(db: Session) -> dict[str, Any]:
    sid = receipt(db)["session_id"]
    dispute = Dispute(session_id=sid, user_id=user_id(db, "王芳"), reason="x", state="open", decision_note="")
    db.add(dispute)
    db.flush()
    return {"session_id": sid, "dispute_id": dispute.id}


def incident(db: Session) -> dict[str, Any]:
    now = datetime.now(UTC)
    row = ColdChainIncident(cabinet_id=cabinet(db).id, started_at=now, withheld_at=now)
    db.add(row)
    db.flush()
    return {"incident_id": row.id}


def in_review(db: Session) -> dict[str, Any]:
    return visit(db, "王芳", "review", result={"lanes": [], "candidates": []})


def to_confirm(db: Session) -> dict[str, Any]:
    return visit(db, "staff", "confirm", mode="restock", result={"lanes": []})


def drifting_scale(db: Session) -> dict[str, Any]:
    task = ScaleRecalibration(cabinet_id=cabinet(db).id, channel=1, state="due", drift_g_per_h=12.0)
    db.add(task)
    db.flush()
    return {"task_id": task.id}


def free_doors(db: Session) -> dict[str, Any]:
    """The cabinet online and every door free, whoever opened one in an earlier cell."""
    live = Visit.status.in_(LIVE)
    db.execute(update(Visit).where(live).values(holds_door=None, status="failed"))
    cabinet(db).online = True
    return {}


#     none  resident  other_resident  staff  other_staff  ops  admin
ALL_200 = (200, 200, 200, 200, 200, 200, 200)
SIGNED_IN = (401, 200, 200, 200, 200, 200, 200)
STORE_STAFF_AND_OPS = (401, 403, 403, 200, 403, 200, 200)
OPS = (401, 403, 403, 403, 403, 200, 200)
OWNER_AND_OPS = (401, 200, 403, 403, 403, 200, 200)
OWNER = (401, 200, 403, 403, 403, 403, 403)

MATRIX: dict[str, Row] = {
    # -- public: health, schema, sign-in, what a resident sees before signing in ------------
    "GET /healthz": Row(ALL_200, "/healthz"),
    "GET /openapi.json": Row(ALL_200, "/openapi.json"),
    "GET /docs": Row(ALL_200, "/docs"),
    "GET /docs/oauth2-redirect": Row(ALL_200, "/docs/oauth2-redirect"),
    "GET /metrics": Row(ALL_200, "/metrics"),
    "POST /api/v1/auth/otp/request": Row(ALL_200, "/api/v1/auth/otp/request", {"phone": "13600136000"}),
    "POST /api/v1/auth/otp/verify": Row(
        (401,) * 7, "/api/v1/auth/otp/verify", {"phone": "13500135000", "code": "000000"}
    ),
    "POST /api/v1/auth/login": Row((401,) * 7, "/api/v1/auth/login", {"username": "ops", "password": "x"}),
    "GET /api/v1/cabinets/{code}": Row(ALL_200, "/api/v1/cabinets/XH-0001"),
    "GET /api/v1/cabinets/{code}/stock": Row(ALL_200, "/api/v1/cabinets/XH-0001/stock"),
    "GET /api/v1/cabinets/{code}/qr.svg": Row(ALL_200, "/api/v1/cabinets/XH-0001/qr.svg"),
    "GET /api/v1/keys/commands": Row(ALL_200, "/api/v1/keys/commands"),
    # -- signed in -------------------------------------------------------------------------
    "GET /api/v1/auth/me": Row(SIGNED_IN, "/api/v1/auth/me"),
    # Staff of the other store see the list of their own store (no cabinets): 200, empty.
    "GET /api/v1/cabinets": Row((401, 403, 403, 200, 200, 200, 200), "/api/v1/cabinets"),
    # Opening as a resident: staff and ops do not shop; admin may, but has no balance.
    "POST /api/v1/cabinets/{code}/sessions": Row(
        (401, 201, 201, 403, 403, 403, 409), "/api/v1/cabinets/XH-0001/sessions", {"door": 0}, free_doors
    ),
    "GET /api/v1/sessions/{session_id}": Row(OWNER_AND_OPS, "/api/v1/sessions/{session_id}"),
    "GET /api/v1/sessions/{session_id}/stream": Row(OWNER_AND_OPS, "/api/v1/sessions/{session_id}/stream"),
    # -- restock: the store's staff (and its ops) ------------------------------------------
    "GET /api/v1/stores/{store_id}/picklist": Row(STORE_STAFF_AND_OPS, "/api/v1/stores/{store_id}/picklist"),
    "GET /api/v1/stores/{store_id}/picklist.csv": Row(
        STORE_STAFF_AND_OPS, "/api/v1/stores/{store_id}/picklist.csv"
    ),
    "GET /api/v1/stores/{store_id}/inventory": Row(
        STORE_STAFF_AND_OPS, "/api/v1/stores/{store_id}/inventory"
    ),
    # Only restockers confirm a visit (ops review, they do not load shelves).
    "POST /api/v1/sessions/{session_id}/restock/confirm": Row(
        (401, 403, 403, 200, 403, 403, 200), "/api/v1/sessions/{session_id}/restock/confirm", {}, to_confirm
    ),
    "POST /api/v1/cabinets/{code}/planogram/changes": Row(
        (401, 403, 403, 201, 403, 201, 201),
        "/api/v1/cabinets/XH-0001/planogram/changes",
        {"channel": 1, "lane": 1, "sku": "genki-480", "capacity": 8, "par_level": 5},
    ),
    # -- ops (staff see their store's alarms and temperatures) ------------------------------
    "GET /api/v1/cabinets/{code}/recalibrations": Row(
        STORE_STAFF_AND_OPS, "/api/v1/cabinets/XH-0001/recalibrations"
    ),
    "POST /api/v1/recalibrations/{task_id}/tare": Row(  # the restocker at the shelf, not ops
        (401, 403, 403, 200, 403, 403, 200), "/api/v1/recalibrations/{task_id}/tare", None, drifting_scale
    ),
    "GET /api/v1/alarms": Row(STORE_STAFF_AND_OPS, "/api/v1/alarms", query={"cabinet": "XH-0001"}),
    "POST /api/v1/alarms/{alarm_id}/ack": Row(OPS, "/api/v1/alarms/{alarm_id}/ack"),
    "GET /api/v1/fleet": Row(OPS, "/api/v1/fleet"),
    "GET /api/v1/fleet/map": Row(OPS, "/api/v1/fleet/map"),
    "POST /api/v1/top-ups": Row(  # any store's counter takes a resident's money
        (401, 403, 403, 200, 200, 200, 200),
        "/api/v1/top-ups",
        body={"phone": "13800138000", "amount_fen": 100, "top_up_id": "matrix-top-up"},
    ),
    "GET /api/v1/cabinets/{code}/telemetry": Row(STORE_STAFF_AND_OPS, "/api/v1/cabinets/XH-0001/telemetry"),
    "GET /api/v1/cabinets/{code}/sessions": Row(OPS, "/api/v1/cabinets/XH-0001/sessions"),
    "POST /api/v1/sessions/{session_id}/choice": Row(
        OWNER, "/api/v1/sessions/{session_id}/choice", {"offer": None}, to_choose
    ),
    "POST /api/v1/sessions/{session_id}/dispute": Row(
        (401, 201, 403, 403, 403, 403, 403), "/api/v1/sessions/{session_id}/dispute", {"reason": "x"}, receipt
    ),
    "GET /api/v1/disputes": Row(OPS, "/api/v1/disputes"),
    "POST /api/v1/disputes/{dispute_id}/decision": Row(
        OPS, "/api/v1/disputes/{dispute_id}/decision", {"refund_fen": 0, "note": "x"}, disputed
    ),
    "GET /api/v1/cold-chain/incidents": Row(OPS, "/api/v1/cold-chain/incidents"),
    "POST /api/v1/cold-chain/incidents/{incident_id}/refund": Row(
        OPS, "/api/v1/cold-chain/incidents/{incident_id}/refund", None, incident
    ),
    "POST /api/v1/me/cold-chain-notices": Row(
        (401, 200, 200, 403, 403, 403, 200), "/api/v1/me/cold-chain-notices"
    ),
    "GET /api/v1/reviews": Row(OPS, "/api/v1/reviews"),
    "POST /api/v1/sessions/{session_id}/review": Row(
        OPS, "/api/v1/sessions/{session_id}/review", {"dismiss": True}, in_review
    ),
    # -- per-cabinet settings: ops of the store -------------------------------------------
    "GET /api/v1/settings": Row(OPS, "/api/v1/settings"),
    "PUT /api/v1/stores/{store_id}/settings": Row(
        OPS, "/api/v1/stores/{store_id}/settings", {"hold_fen": 3000}
    ),
    "GET /api/v1/cabinets/{code}/settings": Row(OPS, "/api/v1/cabinets/XH-0001/settings"),
    "PUT /api/v1/cabinets/{code}/settings": Row(
        OPS, "/api/v1/cabinets/XH-0001/settings", {"chilled_max_c": 6.0}
    ),
    # -- pages -----------------------------------------------------------------------------
    "GET /c/{code}": Row(ALL_200, "/c/XH-0001"),
    "GET /s/{code}": Row(ALL_200, "/s/XH-0001"),
    "GET /staff/stores/{store_id}/picklist": Row(ALL_200, "/staff/stores/{store_id}/picklist"),
    "GET /ops": Row(ALL_200, "/ops"),
    "GET /ops/{view}": Row(ALL_200, "/ops/alarms"),
    "GET /ops/cabinets/{code}": Row(ALL_200, "/ops/cabinets/XH-0001"),
    "GET /ops/settings": Row(ALL_200, "/ops/settings"),
}


def routes_of(client: TestClient) -> set[str]:
    found = set()
    for route in iter_route_contexts(client.app.routes):  # type: ignore[attr-defined]
        found |= {f"{method} {route.path}" for method in route.methods or () if method != "HEAD"}
    return found


@pytest.fixture
def fleet(factory: sessionmaker[Session]) -> dict[str, Any]:
    """Targets every cell may share: the store, an open alarm, a settled session of the resident."""
    add_other_store(factory)
    with transaction(factory) as db:
        alarm = alarms.raise_alarm(db, cabinet(db), "forced_open", "0")
        store = db.scalar(select(Store.id).where(Store.code == "SH-XH-01"))
        return {"store_id": store, "alarm_id": alarm.id, **visit(db, "王芳", "settled")}


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Any:
    with api_client(factory, db_url, tmp_path) as test_client:
        yield test_client


def test_every_route_has_a_row(client: TestClient) -> None:
    routes = routes_of(client)
    assert routes - MATRIX.keys() == set(), "new route: add its row to MATRIX"
    assert MATRIX.keys() - routes == set(), "row for a route that is gone"


def test_every_route_answers_every_role_as_written(
    client: TestClient, factory: sessionmaker[Session], fleet: dict[str, Any]
) -> None:
    headers = role_headers(client, factory)
    wrong = []
    for key, row in MATRIX.items():
        method = key.split()[0]
        for role, expected in zip(ROLES, row.expected, strict=True):
            targets = dict(fleet)
            if row.fresh:
                with transaction(factory) as db:
                    targets |= row.fresh(db)
            answer = client.request(
                method, row.url.format(**targets), json=row.body, params=row.query, headers=headers[role]
            )
            if answer.status_code != expected:
                wrong.append(
                    f"{key} as {role}: {answer.status_code}, expected {expected}: {answer.text[:120]}"
                )
    assert wrong == []


def test_alarms_of_another_store_are_not_listed(
    client: TestClient, factory: sessionmaker[Session], fleet: dict[str, Any]
) -> None:
    headers = role_headers(client, factory)
    assert client.get("/api/v1/alarms", headers=headers["other_staff"]).json() == []
    assert [a["id"] for a in client.get("/api/v1/alarms", headers=headers["staff"]).json()] == [
        fleet["alarm_id"]
    ]
    assert client.get("/api/v1/cabinets", headers=headers["other_staff"]).json() == []
