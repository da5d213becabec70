"""Ops: the fleet at a glance, a cabinet's telemetry and sessions, alarms."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi import APIRouter
from sqlalchemy import select

from cloud.api.deps import CurrentUser, SessionDep
from cloud.api.routes.cabinets import cabinet_view
from cloud.api.routes.sessions import session_view
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry, Session, TemperatureMinute
from cloud.domain import alarms
from cloud.domain.auth import require_role
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
        "opened_at": a.opened_at.isoformat(),
        "acknowledged_at": a.acknowledged_at.isoformat() if a.acknowledged_at else None,
        "resolved_at": a.resolved_at.isoformat() if a.resolved_at else None,
    }


@router.get("/alarms")
def list_alarms(
    db: SessionDep, user: CurrentUser, state: str | None = None, cabinet: str | None = None
) -> list[dict[str, Any]]:
    """Alarms, newest first; `state=open` gives every one not yet resolved."""
    require_role(user, "ops", "staff")
    cabinet_id = cabinet_by_code(db, cabinet).id if cabinet else None
    return [alarm_view(a) for a in alarms.listed(db, state, cabinet_id)]


@router.post("/alarms/{alarm_id}/ack")
def acknowledge(alarm_id: int, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return alarm_view(alarms.acknowledge(db, alarm_id=alarm_id, user=user))


@router.get("/fleet")
def fleet(db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Every cabinet with its state, latest readings and open alarms, and the counts."""
    require_role(user, "ops")
    open_alarms: dict[int, list[str]] = {}
    for a in alarms.listed(db, "open", limit=10_000):
        open_alarms.setdefault(a.cabinet_id, []).append(a.kind)
    latest = {t.cabinet_id: t.payload for t in db.scalars(select(CabinetTelemetry))}
    rows = []
    for c in db.scalars(select(Cabinet).order_by(Cabinet.code)):
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
        "alarms": sum(len(v) for v in open_alarms.values()),
        "low_stock": sum(r["low_stock"] for r in rows),
    }
    return {"counts": counts, "cabinets": rows}


@router.get("/cabinets/{code}/telemetry")
def cabinet_telemetry(code: str, db: SessionDep, user: CurrentUser, hours: float = 6) -> dict[str, Any]:
    """One-minute temperature roll-ups (min/mean/max, door open) and the latest sample."""
    require_role(user, "ops", "staff")
    cabinet = cabinet_by_code(db, code)
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


@router.get("/cabinets/{code}/sessions")
def cabinet_sessions(code: str, db: SessionDep, user: CurrentUser, limit: int = 20) -> list[dict[str, Any]]:
    """Recent sessions with their sensor trace: baseline and final weights, inference, confidence."""
    require_role(user, "ops")
    cabinet = cabinet_by_code(db, code)
    rows = db.scalars(
        select(Session)
        .where(Session.cabinet_id == cabinet.id)
        .order_by(Session.created_at.desc())
        .limit(min(limit, 200))
    )
    return [{**session_view(s), "result": s.result} for s in rows]
