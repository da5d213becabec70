"""Ops: the fleet at a glance, a cabinet's telemetry and sessions, alarms."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Query, Response
from sqlalchemy import select

from cloud.api.deps import CurrentUser, SessionDep, in_store
from cloud.api.errors import documented
from cloud.api.routes.cabinets import cabinet_view
from cloud.api.routes.sessions import session_view
from cloud.api.types import INT32_MAX, CabinetCode, CabinetFilter, Hours, Limit, RowId
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry, Session, TemperatureMinute, User
from cloud.domain import alarms
from cloud.domain.auth import require_role, require_store
from cloud.domain.fleet import cabinet_by_code

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


@router.get("/fleet", responses=documented(401, 403))
def fleet(db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Every cabinet of the caller's store with its state, latest readings and open alarms, and the counts."""
    require_role(user, "ops")
    open_alarms: dict[int, list[str]] = {}
    for a in alarms.listed(db, "open", limit=10_000):
        open_alarms.setdefault(a.cabinet_id, []).append(a.kind)
    latest = {t.cabinet_id: t.payload for t in db.scalars(select(CabinetTelemetry))}
    rows = []
    cabinets = [c for c in db.scalars(select(Cabinet).order_by(Cabinet.code)) if in_store(user, c.store_id)]
    for c in cabinets:
        sample: dict[str, Any] = latest.get(c.id, {})
        temps = [t for t in sample.get("temperatures_c", []) if t is not None]
        kinds = open_alarms.get(c.id, [])
        rows.append(
            {
                **cabinet_view(c),
                "alarms": sorted(set(kinds)),
                "temperature_c": max(temps) if temps else None,
                "door_open": any(d["open"] for d in sample.get("doors", [])),
                "low_stock": "low_stock" in kinds,
                "outbox_depth": sample.get("outbox_depth"),
            }
        )
    counts = {
        "cabinets": len(rows),
        "online": sum(r["online"] for r in rows),
        "offline": sum(not r["online"] for r in rows),
        "alarms": sum(len(open_alarms.get(c.id, [])) for c in cabinets),
        "low_stock": sum(r["low_stock"] for r in rows),
    }
    return {"counts": counts, "cabinets": rows}


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
) -> list[dict[str, Any]]:
    """Recent sessions with their sensor trace: baseline and final weights, inference, confidence."""
    require_role(user, "ops")
    cabinet = _store_cabinet(db, user, code)
    rows = db.scalars(
        select(Session)
        .where(Session.cabinet_id == cabinet.id)
        .order_by(Session.created_at.desc())
        .limit(limit)
    )
    return [{**session_view(s), "result": s.result} for s in rows]
