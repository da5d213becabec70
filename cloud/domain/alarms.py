"""Alarms: raised by rules or by gateways, one open per condition, resolved when it clears."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import Select, func, select
from sqlalchemy.orm import Session

from cloud import NotFound
from cloud.db.bulk import among
from cloud.db.models import Alarm, Cabinet, PlanogramLane, User
from cloud.domain import ledger
from cloud.domain.auth import require_role, require_store
from cloud.domain.cabinet_settings import effective_settings

log = structlog.get_logger("cloud.alarms")
KINDS = {
    "temperature_high",
    "left_open",
    "forced_open",
    "offline",
    "board_fault",
    "scale_fault",
    "scale_drift",  # a load cell's zero walks: recalibrate it on the next restock visit
    "scale_noise",
    "scale_stuck",
    "low_stock",
    "outbox_backlog",
    "foreign_session",  # a cabinet sent a message about another cabinet's session
    "ingest_dead_letter",  # an event the cloud could not apply, kept for ops
    "config_drift",  # the gateway does not run the config the cloud signed for it
}
# What a gateway's alarm event means here.
FROM_GATEWAY = {
    "forced_open": "forced_open",
    "left_open": "left_open",
    "board_fault": "board_fault",
    "serial_lost": "board_fault",
    "lock_fault": "board_fault",
    "scale_fault": "scale_fault",
    "scale_drift": "scale_drift",
    "scale_noise": "scale_noise",
    "scale_stuck": "scale_stuck",
}

Notifier = Callable[[Alarm, str], None]


def log_notifier(alarm: Alarm, change: str) -> None:
    """The embedded notifier: the log (and the ops pages, which read the table)."""
    log.warning(
        "alarm", change=change, cabinet=alarm.cabinet_id, kind=alarm.kind, key=alarm.key, detail=alarm.detail
    )


NOTIFY: list[Notifier] = [log_notifier]


@dataclass
class OpenAlarms:
    """The open alarms of some cabinets and kinds, read in one query: a batch of telemetry asks its
    rules per sample, and a query per question was most of its cost. Raising and resolving through
    it keeps it true for the rest of the transaction."""

    kinds: frozenset[str]
    found: dict[tuple[int, str, str], Alarm]

    @classmethod
    def load(cls, db: Session, cabinet_ids: set[int], kinds: frozenset[str]) -> OpenAlarms:
        rows = db.scalars(
            select(Alarm).where(
                among(db, Alarm.cabinet_id, cabinet_ids), Alarm.kind.in_(kinds), Alarm.state != "resolved"
            )
        )
        return cls(kinds, {(a.cabinet_id, a.kind, a.key): a for a in rows})


def _open(db: Session, cabinet_id: int, kind: str, key: str, known: OpenAlarms | None) -> Alarm | None:
    if known is not None and kind in known.kinds:
        return known.found.get((cabinet_id, kind, key))
    return db.scalar(
        select(Alarm).where(
            Alarm.cabinet_id == cabinet_id, Alarm.kind == kind, Alarm.key == key, Alarm.state != "resolved"
        )
    )


def raise_alarm(
    db: Session,
    cabinet: Cabinet,
    kind: str,
    key: str = "",
    *,
    detail: str = "",
    evidence: dict[str, Any] | None = None,
    params: dict[str, Any] | None = None,
    at: datetime | None = None,
    known: OpenAlarms | None = None,
) -> Alarm:
    """Open the alarm unless the same condition already has one open (no storms).

    `detail` is the English sentence (logs); `params` are its values, kept in the evidence, so pages
    word it in the reader's language. `known`: the open alarms already read, if they were."""
    assert kind in KINDS, kind
    existing = _open(db, cabinet.id, kind, key, known)
    if existing is not None:
        return existing
    alarm = Alarm(
        cabinet_id=cabinet.id,
        kind=kind,
        key=key,
        detail=detail,
        evidence={**(evidence or {}), **({"params": params} if params else {})},
        opened_at=at or datetime.now(UTC),
        state="open",
    )
    db.add(alarm)
    db.flush()
    if known is not None and kind in known.kinds:
        known.found[cabinet.id, kind, key] = alarm
    for notify in NOTIFY:
        notify(alarm, "opened")
    return alarm


def resolve(
    db: Session,
    cabinet: Cabinet,
    kind: str,
    key: str = "",
    at: datetime | None = None,
    known: OpenAlarms | None = None,
) -> None:
    alarm = _open(db, cabinet.id, kind, key, known)
    if alarm is not None:
        alarm.state, alarm.resolved_at = "resolved", at or datetime.now(UTC)
        if known is not None:
            known.found.pop((cabinet.id, kind, key), None)
        for notify in NOTIFY:
            notify(alarm, "resolved")


def set_alarm(
    db: Session,
    cabinet: Cabinet,
    active: bool,
    kind: str,
    key: str = "",
    known: OpenAlarms | None = None,
    **fields: Any,
) -> None:
    if active:
        raise_alarm(db, cabinet, kind, key, known=known, **fields)
    else:
        resolve(db, cabinet, kind, key, known=known)


def acknowledge(db: Session, *, alarm_id: int, user: User) -> Alarm:
    require_role(user, "ops")
    alarm = db.get(Alarm, alarm_id)
    if alarm is None:
        raise NotFound(f"no alarm {alarm_id}", code="no_alarm", alarm_id=alarm_id)
    require_store(user, alarm.cabinet.store_id)
    if alarm.state == "open":
        alarm.state, alarm.acknowledged_at, alarm.acknowledged_by = "acknowledged", datetime.now(UTC), user.id
    return alarm


@dataclass(frozen=True)
class AlarmFilter:
    """Which alarms a listing shows; None is "any". `state=open` is every one not yet resolved."""

    state: str | None = None
    kind: str | None = None
    store_id: int | None = None
    cabinet_id: int | None = None

    def where(self, query: Select[Any]) -> Select[Any]:
        if self.state == "open":
            query = query.where(Alarm.state != "resolved")  # acknowledged ones are still open conditions
        elif self.state:
            query = query.where(Alarm.state == self.state)
        if self.kind:
            query = query.where(Alarm.kind == self.kind)
        if self.cabinet_id is not None:
            query = query.where(Alarm.cabinet_id == self.cabinet_id)
        if self.store_id is not None:
            of_store = select(Cabinet.id).where(Cabinet.store_id == self.store_id)
            query = query.where(Alarm.cabinet_id.in_(of_store))
        return query


def listed(
    db: Session, state: str | None = None, cabinet_id: int | None = None, limit: int = 200
) -> list[Alarm]:
    return page(db, AlarmFilter(state=state, cabinet_id=cabinet_id), limit=limit)[0]


def page(db: Session, which: AlarmFilter, *, limit: int = 50, offset: int = 0) -> tuple[list[Alarm], int]:
    """One page of the alarms, newest first, and how many there are in all."""
    total = db.scalar(which.where(select(func.count()).select_from(Alarm))) or 0
    query = which.where(select(Alarm)).order_by(Alarm.opened_at.desc(), Alarm.id.desc())
    return list(db.scalars(query.limit(limit).offset(offset))), total


def check_stock(db: Session, cabinet: Cabinet) -> None:
    """A lane at its cabinet's low-stock share of capacity or less is low (a pick list will ask for it)."""
    share = effective_settings(db, cabinet).low_stock_fraction
    capacity = {
        (r.channel, r.lane): r.capacity
        for r in db.scalars(select(PlanogramLane).where(PlanogramLane.cabinet_id == cabinet.id))
    }
    for lane in ledger.stock(db, cabinet.id):
        cap = capacity.get((lane.channel, lane.lane))
        if cap is None:
            continue
        low = lane.count <= max(1, int(cap * share + 1e-9))  # a float share may land a hair below
        set_alarm(
            db,
            cabinet,
            low,
            "low_stock",
            f"{lane.channel}-{lane.lane}",
            detail=f"{lane.sku}: {lane.count} of {cap} left",
            params={"sku": lane.sku, "count": lane.count, "capacity": cap},
        )
