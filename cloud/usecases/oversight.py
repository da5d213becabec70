"""What ops (and store staff) watch: the fleet at a glance and on a map, a cabinet's readings and
recent sessions, alarms. Reads in one short session each; acknowledging an alarm is the one write."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry, Session, TemperatureMinute, User
from cloud.domain import alarms
from cloud.domain.auth import require_role, require_store
from cloud.domain.fleet import FleetQuery, FleetRow, FleetState, cabinet_by_code, fleet_page, fleet_points
from cloud.usecases.cabinets import CabinetView
from cloud.usecases.views import ReviewView

CabinetStatus = Literal["ok", "offline", "alarm"]

# -- views ----------------------------------------------------------------------------------------


class AlarmView(BaseModel):
    id: int
    cabinet_code: str
    kind: str
    key: str
    state: str
    detail: str  # the English sentence; pages word it from kind and params
    params: dict[str, Any]
    opened_at: datetime
    acknowledged_at: datetime | None
    resolved_at: datetime | None

    @classmethod
    def of(cls, a: Alarm) -> AlarmView:
        evidence: dict[str, Any] = a.evidence if isinstance(a.evidence, dict) else {}
        return cls(
            id=a.id,
            cabinet_code=a.cabinet.code,
            kind=a.kind,
            key=a.key,
            state=a.state,
            detail=a.detail,
            params=evidence.get("params") or {},
            opened_at=a.opened_at,
            acknowledged_at=a.acknowledged_at,
            resolved_at=a.resolved_at,
        )


class FleetCabinet(CabinetView):
    """A cabinet as the fleet table shows it, with its live state."""

    store_code: str
    status: CabinetStatus
    alarms: list[str]
    temperature_c: float | None
    door_open: bool
    low_stock: bool
    outbox_depth: int | None

    @classmethod
    def row(cls, row: FleetRow) -> FleetCabinet:
        sample, c = row.latest, row.cabinet
        temps = [t for t in sample.get("temperatures_c", []) if t is not None]
        status: CabinetStatus = "offline" if not c.online else "alarm" if row.alarms else "ok"
        return cls(
            **CabinetView.of(c).model_dump(),
            store_code=row.store_code,
            status=status,
            alarms=row.alarms,
            temperature_c=max(temps) if temps else None,
            door_open=any(d["open"] for d in sample.get("doors", [])),
            low_stock="low_stock" in row.alarms,
            outbox_depth=sample.get("outbox_depth"),
        )


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


class Minute(BaseModel):
    minute: datetime
    probe: int
    min: float
    max: float
    mean: float
    door_open: bool


class Readings(BaseModel):
    minutes: list[Minute]  # one-minute temperature roll-ups
    latest: dict[str, Any] | None  # the latest telemetry sample as the gateway sent it


# -- use cases ------------------------------------------------------------------------------------


def fleet(
    context: CloudContext, user: User, store: str | None, state: FleetState | None, page: int, size: int
) -> Fleet:
    """A page of the caller's cabinets (by code): state, latest readings, open alarms; and the counts."""
    with context.factory() as db:
        found = fleet_page(db, _fleet_query(user, store, state, page, size))
        return Fleet(
            counts=FleetCounts(**found.counts),
            total=found.total,
            page=page,
            page_size=size,
            cabinets=[FleetCabinet.row(r) for r in found.rows],
        )


def fleet_map(
    context: CloudContext, user: User, store: str | None, state: FleetState | None
) -> list[tuple[str, float, float, str]]:
    with context.factory() as db:
        return fleet_points(db, _fleet_query(user, store, state))


def alarm_page(
    context: CloudContext, user: User, which: alarms.AlarmFilter, cabinet: str | None, page: int, size: int
) -> tuple[list[AlarmView], int]:
    """Alarms of the caller's store, newest first, filtered, one page, and how many match in all."""
    require_role(user, "ops", "staff")
    with context.factory() as db:
        if which.store_id is not None:
            require_store(user, which.store_id)
        elif user.role != "admin" and user.store_id is not None:  # staff and ops of one store see its own
            which = replace(which, store_id=user.store_id)
        if cabinet:
            which = replace(which, cabinet_id=_store_cabinet(db, user, cabinet).id)
        found, total = alarms.page(db, which, limit=size, offset=(page - 1) * size)
        return [AlarmView.of(a) for a in found], total


def acknowledge(context: CloudContext, user: User, alarm_id: int) -> AlarmView:
    with transaction(context.factory) as db:
        return AlarmView.of(alarms.acknowledge(db, alarm_id=alarm_id, user=user))


def readings(context: CloudContext, user: User, code: str, hours: float) -> Readings:
    require_role(user, "ops", "staff")
    with context.factory() as db:
        cabinet = _store_cabinet(db, user, code)
        since = datetime.now(UTC) - timedelta(hours=hours)
        minutes = db.scalars(
            select(TemperatureMinute)
            .where(TemperatureMinute.cabinet_id == cabinet.id, TemperatureMinute.minute >= since)
            .order_by(TemperatureMinute.minute)
        )
        latest = db.get(CabinetTelemetry, cabinet.id)
        return Readings(
            minutes=[
                Minute(
                    minute=m.minute,
                    probe=m.probe,
                    min=m.min_c,
                    max=m.max_c,
                    mean=round(m.sum_c / m.samples, 2),
                    door_open=m.door_open,
                )
                for m in minutes
            ],
            latest=latest.payload if latest else None,
        )


def recent_sessions(context: CloudContext, user: User, code: str, limit: int) -> list[ReviewView]:
    """Recent sessions with their sensor trace: baseline and final weights, inference, confidence."""
    require_role(user, "ops")
    with context.factory() as db:
        cabinet = _store_cabinet(db, user, code)
        query = select(Session).where(Session.cabinet_id == cabinet.id)
        rows = db.scalars(query.order_by(Session.created_at.desc()).limit(limit))
        return [ReviewView.of(s) for s in rows]


def _store_cabinet(db: Db, user: User, code: str) -> Cabinet:
    """A cabinet of the caller's store (staff and ops work for one store; admins for all)."""
    cabinet = cabinet_by_code(db, code)
    require_store(user, cabinet.store_id)
    return cabinet


def _fleet_query(
    user: User, store: str | None, state: FleetState | None, page: int = 1, size: int = 1
) -> FleetQuery:
    require_role(user, "ops")
    scope = None if user.role == "admin" else user.store_id
    return FleetQuery(scope_store_id=scope, store=store, state=state, page=page, page_size=size)
