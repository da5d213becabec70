"""Ops: the fleet at a glance, a cabinet's telemetry and sessions, alarms."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field
from sqlalchemy import select

from cloud.api.deps import CurrentUser, SessionDep
from cloud.api.errors import documented
from cloud.api.routes.cabinets import cabinet_view
from cloud.api.types import INT32_MAX, CabinetCode, CabinetFilter, Hours, Limit, RowId
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry, Session, TemperatureMinute, User
from cloud.domain import alarms
from cloud.domain.auth import require_role, require_store
from cloud.domain.fleet import FleetQuery, FleetRow, FleetState, cabinet_by_code, fleet_page, fleet_points
from cloud.usecases.views import ReviewView

router = APIRouter(prefix="/api/v1", tags=["ops"])


def alarm_view(a: Alarm) -> dict[str, Any]:
    return {
        "id": a.id,
        "cabinet_code": a.cabinet.code,
        "kind": a.kind,
        "key": a.key,
        "state": a.state,
        "detail": a.detail,
        "params": a.evidence.get("params", {}) if isinstance(a.evidence, dict) else {},
        "opened_at": a.opened_at.isoformat(),
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
    }


def _store_cabinet(db: SessionDep, user: User, code: str) -> Cabinet:
    """A cabinet of the caller's store (staff and ops work for one store; admins for all)."""
    cabinet = cabinet_by_code(db, code)
    require_store(user, cabinet.store_id)
    return cabinet


@router.get("/alarms", responses=documented(401, 403, 404, 422))
def list_alarms(
    db: SessionDep,
    user: CurrentUser,
    response: Response,
    state: Literal["open", "acknowledged", "resolved"] | None = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=24)] = None,
    store: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    cabinet: CabinetFilter = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 200,
) -> list[dict[str, Any]]:
    """Alarms of the caller's store, newest first, filtered and one page at a time.

    `state=open` gives every one not yet resolved; the header `X-Total-Count` says how many match."""
    require_role(user, "ops", "staff")
    which = alarms.AlarmFilter(state=state, kind=kind)
    if store is not None:
        require_store(user, store)
        which = replace(which, store_id=store)
    elif user.role != "admin" and user.store_id is not None:  # staff and ops of one store see its own
        which = replace(which, store_id=user.store_id)
    if cabinet:
        which = replace(which, cabinet_id=_store_cabinet(db, user, cabinet).id)
    found, total = alarms.page(db, which, limit=page_size, offset=(page - 1) * page_size)
    response.headers["X-Total-Count"] = str(total)
    return [alarm_view(a) for a in found]


@router.post("/alarms/{alarm_id}/ack", responses=documented(401, 403, 404, 422))
def acknowledge(alarm_id: RowId, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    require_role(user, "ops")
    alarm = db.get(Alarm, alarm_id)
    if alarm is not None:
        require_store(user, alarm.cabinet.store_id)
    return alarm_view(alarms.acknowledge(db, alarm_id=alarm_id, user=user))


class FleetCabinet(BaseModel):
    """A cabinet as the fleet table shows it (the fields of `cabinet_view`, and its live state)."""

    id: int
    code: str
    name: str
    store_id: int
    store_code: str
    layout: str
    online: bool
    state: str
    lat: float
    lon: float
    last_seen: str | None
    status: Literal["ok", "offline", "alarm"]
    alarms: list[str]
    temperature_c: float | None
    door_open: bool
    low_stock: bool
    outbox_depth: int | None


class FleetCounts(BaseModel):
    cabinets: int
    online: int
    offline: int
    alarms: int  # open alarms (one cabinet may have several)
    low_stock: int


class Fleet(BaseModel):
    counts: FleetCounts  # over the caller's scope and `store`, whatever `state` and page
    total: int  # cabinets matching the filter
    page: int
    page_size: int
    cabinets: list[FleetCabinet]


class FleetMap(BaseModel):
    """Every cabinet of the filter as [code, lat, lon, ok|offline|alarm]: compact, for a clustered map."""

    points: list[list[str | float]] = Field(description="[code, lat, lon, state] per cabinet")


StoreFilter = Annotated[str | None, Query(min_length=1, max_length=32, description="a store code")]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=500)]


def _fleet_query(
    user: User, store: str | None, state: FleetState | None, page: int = 1, size: int = 1
) -> FleetQuery:
    require_role(user, "ops")
    scope = None if user.role == "admin" else user.store_id
    return FleetQuery(scope_store_id=scope, store=store, state=state, page=page, page_size=size)


def _fleet_row(row: FleetRow) -> FleetCabinet:
    sample, c = row.latest, row.cabinet
    temps = [t for t in sample.get("temperatures_c", []) if t is not None]
    status: Literal["ok", "offline", "alarm"] = "offline" if not c.online else "alarm" if row.alarms else "ok"
    return FleetCabinet(
        **cabinet_view(c),
        store_code=row.store_code,
        status=status,
        alarms=row.alarms,
        temperature_c=max(temps) if temps else None,
        door_open=any(d["open"] for d in sample.get("doors", [])),
        low_stock="low_stock" in row.alarms,
        outbox_depth=sample.get("outbox_depth"),
    )


@router.get("/fleet", responses=documented(401, 403, 422))
def fleet(
    db: SessionDep,
    user: CurrentUser,
    state: FleetState | None = None,
    store: StoreFilter = None,
    page: Page = 1,
    page_size: PageSize = 100,
) -> Fleet:
    """A page of the caller's cabinets (by code): state, latest readings, open alarms; and the counts."""
    found = fleet_page(db, _fleet_query(user, store, state, page, page_size))
    return Fleet(
        counts=FleetCounts(**found.counts),
        total=found.total,
        page=page,
        page_size=page_size,
        cabinets=[_fleet_row(r) for r in found.rows],
    )


@router.get("/fleet/map", responses=documented(401, 403, 422), response_model=FleetMap)
def fleet_map(
    db: SessionDep, user: CurrentUser, state: FleetState | None = None, store: StoreFilter = None
) -> Response:
    """Every cabinet of the caller's scope where it stands and how it is, in a few bytes each."""
    points = fleet_points(db, _fleet_query(user, store, state))
    # Built from typed rows already: skip re-validating ten thousand tuples on the way out.
    return Response(json.dumps({"points": points}, separators=(",", ":")), media_type="application/json")


@router.get("/cabinets/{code}/telemetry", responses=documented(401, 403, 404, 422))
def cabinet_telemetry(
    code: CabinetCode, db: SessionDep, user: CurrentUser, hours: Hours = 6
) -> dict[str, Any]:
    """One-minute temperature roll-ups (min/mean/max, door open) and the latest sample."""
    require_role(user, "ops", "staff")
    cabinet = _store_cabinet(db, user, code)
    since = datetime.now(UTC) - timedelta(hours=hours)
    minutes = db.scalars(
        select(TemperatureMinute)
        .where(TemperatureMinute.cabinet_id == cabinet.id, TemperatureMinute.minute >= since)
        .order_by(TemperatureMinute.minute)
    )
    latest = db.get(CabinetTelemetry, cabinet.id)
    return {
        "minutes": [
            {
                "minute": m.minute.isoformat(),
                "probe": m.probe,
                "min": m.min_c,
                "max": m.max_c,
                "mean": round(m.sum_c / m.samples, 2),
                "door_open": m.door_open,
            }
            for m in minutes
        ],
        "latest": latest.payload if latest else None,
    }


@router.get("/cabinets/{code}/sessions", responses=documented(401, 403, 404, 422))
def cabinet_sessions(
    code: CabinetCode, db: SessionDep, user: CurrentUser, limit: Limit = 20
) -> list[ReviewView]:
    """Recent sessions with their sensor trace: baseline and final weights, inference, confidence."""
    require_role(user, "ops")
    cabinet = _store_cabinet(db, user, code)
    rows = db.scalars(
        select(Session)
        .where(Session.cabinet_id == cabinet.id)
        .order_by(Session.created_at.desc())
        .limit(limit)
    )
    return [ReviewView.of(s) for s in rows]
