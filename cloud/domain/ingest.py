"""What arrives from gateways: events stored once each, cabinet status, command acks."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from cloud import NotFound
from cloud.db.models import Cabinet, ProcessedEvent
from cloud.domain import alarms, sessions
from cloud.domain.fleet import cabinet_by_code
from cloud.domain.payments import PaymentProvider
from protocols.mqtt.schemas import Ack, AlarmEvent, DoorEvent, SessionResult, Status

log = structlog.get_logger("cloud.ingest")
Event = SessionResult | DoorEvent | AlarmEvent


def store_event(db: Db, cabinet_code: str, event: Event, payments: PaymentProvider) -> int:
    """Apply an event once (by event_id); returns the cabinet's contiguous stored seq."""
    cabinet = _sender(db, cabinet_code, event)
    if cabinet is not None and _record(db, cabinet, event, event.kind, event.model_dump(mode="json")):
        _apply(db, cabinet, event, payments)
        if isinstance(event, SessionResult):
            alarms.check_stock(db, cabinet)
    return _advance(db, cabinet_code)


def dead_letter(db: Db, cabinet_code: str, event: Event, error: str) -> int:
    """Keep an event the cloud failed to apply: stored unapplied, so the gateway may move on; ops told."""
    cabinet = _sender(db, cabinet_code, event)
    payload = {"event": event.model_dump(mode="json"), "error": error}
    if cabinet is not None and _record(db, cabinet, event, "dead_letter", payload):
        alarms.raise_alarm(
            db,
            cabinet,
            "ingest_dead_letter",
            str(event.seq),
            detail=f"event {event.seq} ({event.kind}) could not be applied: {error}",
            evidence=payload,
            at=event.ts,
        )
    return _advance(db, cabinet_code)


def _sender(db: Db, cabinet_code: str, event: Event) -> Cabinet | None:
    """The cabinet whose topic carried the event, locked; None when the payload names another."""
    cabinet = db.scalar(select(Cabinet).where(Cabinet.code == cabinet_code).with_for_update())
    if cabinet is None:
        raise NotFound(f"event from unknown cabinet {cabinet_code!r}")
    if event.cabinet_id != cabinet_code:
        log.warning("event names another cabinet", topic=cabinet_code, payload=event.cabinet_id)
        return None
    return cabinet


def _record(db: Db, cabinet: Cabinet, event: Event, kind: str, payload: dict[str, Any]) -> bool:
    """Store the event under its id and seq; False when either was stored before."""
    if db.get(ProcessedEvent, str(event.event_id)) is not None:
        log.info("duplicate event", event_id=str(event.event_id), seq=event.seq)
        return False
    reused = select(ProcessedEvent.event_id).where(
        ProcessedEvent.cabinet_id == cabinet.id, ProcessedEvent.seq == event.seq
    )
    if db.scalar(reused) is not None:
        log.error("seq reused by another event", cabinet=cabinet.code, seq=event.seq)
        return False
    db.add(
        ProcessedEvent(
            event_id=str(event.event_id),
            cabinet_id=cabinet.id,
            seq=event.seq,
            kind=kind,
            payload=payload,
            happened_at=event.ts,
        )
    )
    db.flush()
    return True


def _advance(db: Db, cabinet_code: str) -> int:
    cabinet = cabinet_by_code(db, cabinet_code)
    cabinet.acked_seq = _contiguous(db, cabinet)
    return cabinet.acked_seq


def _apply(db: Db, cabinet: Cabinet, event: Event, payments: PaymentProvider) -> None:
    match event:
        case SessionResult():
            sessions.settle(db, cabinet, event, payments)
        case DoorEvent():
            sessions.on_door(db, cabinet, event)
        case AlarmEvent():
            _gateway_alarm(db, cabinet, event)


def _gateway_alarm(db: Db, cabinet: Cabinet, event: AlarmEvent) -> None:
    kind = alarms.FROM_GATEWAY[event.alarm]
    key = next((str(v) for v in (event.door, event.channel, event.board_addr) if v is not None), event.alarm)
    if event.state == "raised":
        alarms.raise_alarm(
            db,
            cabinet,
            kind,
            key,
            detail=event.detail or event.alarm,
            evidence=event.model_dump(mode="json"),
            at=event.ts,
        )
    else:
        alarms.resolve(db, cabinet, kind, key, at=event.ts)


def _contiguous(db: Db, cabinet: Cabinet) -> int:
    """Highest seq such that every seq up to it is stored (shared subscriptions reorder)."""
    stored = db.scalars(
        select(ProcessedEvent.seq)
        .where(ProcessedEvent.cabinet_id == cabinet.id, ProcessedEvent.seq > cabinet.acked_seq)
        .order_by(ProcessedEvent.seq)
    )
    high = cabinet.acked_seq
    for seq in stored:
        if seq != high + 1:
            break
        high = seq
    return high


def on_status(db: Db, cabinet_code: str, status: Status) -> None:
    cabinet = cabinet_by_code(db, cabinet_code)
    cabinet.online = status.state == "online"
    cabinet.last_seen = datetime.now(UTC)
    alarms.set_alarm(db, cabinet, not cabinet.online, "offline", detail="the gateway's last will")


def on_ack(db: Db, cabinet_code: str, ack: Ack, payments: PaymentProvider) -> float | None:
    return sessions.on_ack(db, cabinet_by_code(db, cabinet_code), ack, payments)
