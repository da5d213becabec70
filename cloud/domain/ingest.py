"""What arrives from gateways: events stored once each, cabinet status, command acks."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

import structlog
from sqlalchemy import and_, or_, select
from sqlalchemy.orm import Session as Db

from cloud import NotFound
from cloud.db.bulk import among, insert_rows
from cloud.db.models import Cabinet, ProcessedEvent
from cloud.domain import alarms, outbox, recalibration, sessions
from cloud.domain.fleet import cabinet_by_code
from protocols.mqtt.schemas import Ack, AlarmEvent, DoorEvent, SessionResult, Status

log = structlog.get_logger("cloud.ingest")
Event = SessionResult | DoorEvent | AlarmEvent


def store_event(db: Db, cabinet_code: str, event: Event) -> int:
    """Apply an event once (by event_id); returns the cabinet's contiguous stored seq."""
    acked, _ = store_events(db, [(cabinet_code, event)])
    return acked[cabinet_code]


def store_events(db: Db, batch: list[tuple[str, Event]]) -> tuple[dict[str, int], list[Event]]:
    """Apply a batch of events, each once; returns each cabinet's contiguous seq and the new events.

    Round trips per batch, not per event: the senders are locked together, duplicates found with
    one query, and each cabinet's contiguous seq computed once at the end.
    """
    cabinets = _lock_senders(db, {code for code, _ in batch})
    seen = _already_stored(db, cabinets, batch)
    fresh: list[Event] = []
    for code, event in batch:
        cabinet = _sender(cabinets, code, event)
        if cabinet is None or not _record(seen, cabinet, event, event.kind, event.model_dump(mode="json")):
            continue
        fresh.append(event)
        _apply(db, cabinet, event)
        if isinstance(event, SessionResult):
            alarms.check_stock(db, cabinet)
    return _advance_all(db, cabinets, seen), fresh


def dead_letter(db: Db, cabinet_code: str, event: Event, error: str) -> int:
    """Keep an event the cloud failed to apply: stored unapplied, so the gateway may move on; ops told."""
    cabinets = _lock_senders(db, {cabinet_code})
    cabinet = _sender(cabinets, cabinet_code, event)
    payload = {"event": event.model_dump(mode="json"), "error": error}
    seen = _already_stored(db, cabinets, [(cabinet_code, event)])
    if cabinet is not None and _record(seen, cabinet, event, "dead_letter", payload):
        alarms.raise_alarm(
            db,
            cabinet,
            "ingest_dead_letter",
            str(event.seq),
            detail=f"event {event.seq} ({event.kind}) could not be applied: {error}",
            evidence=payload,
            params={"seq": event.seq, "event": event.kind, "error": error},
            at=event.ts,
        )
    return _advance_all(db, cabinets, seen)[cabinet_code]


def _lock_senders(db: Db, codes: set[str]) -> dict[str, Cabinet]:
    """The cabinets whose topics carried the events, locked in id order (no deadlock between workers)."""
    query = select(Cabinet).where(among(db, Cabinet.code, codes)).order_by(Cabinet.id).with_for_update()
    # Read again if this session loaded them before the lock: acked_seq must be the locked row's.
    query = query.execution_options(populate_existing=True)
    cabinets = {c.code: c for c in db.scalars(query)}
    unknown = codes - cabinets.keys()
    if unknown:
        raise NotFound(f"events from unknown cabinets {sorted(unknown)!r}")
    return cabinets


def _sender(cabinets: dict[str, Cabinet], code: str, event: Event) -> Cabinet | None:
    """None when the payload names another cabinet than the topic that carried it."""
    if event.cabinet_id != code:
        log.warning("event names another cabinet", topic=code, payload=event.cabinet_id)
        return None
    return cabinets[code]


@dataclass
class _Stored:
    """What a batch finds stored, in one query: its event ids stored before, and its cabinets' stored
    seqs above their acknowledged one (every seq up to that is stored: it is contiguous). Then the rows
    of the batch's new events, written by one INSERT."""

    ids: set[str]
    seqs: set[tuple[int, int]]
    new: list[dict[str, Any]] = field(default_factory=list)
    at: datetime = field(default_factory=lambda: datetime.now(UTC))  # when the batch was received

    def has_seq(self, cabinet: Cabinet, seq: int) -> bool:
        return seq <= cabinet.acked_seq or (cabinet.id, seq) in self.seqs


def _already_stored(db: Db, cabinets: dict[str, Cabinet], batch: list[tuple[str, Event]]) -> _Stored:
    ids = [str(event.event_id) for _, event in batch]
    rows = db.execute(
        select(ProcessedEvent.event_id, ProcessedEvent.cabinet_id, ProcessedEvent.seq)
        .join(Cabinet, Cabinet.id == ProcessedEvent.cabinet_id)
        .where(
            or_(
                among(db, ProcessedEvent.event_id, ids),
                and_(
                    among(db, ProcessedEvent.cabinet_id, [c.id for c in cabinets.values()]),
                    ProcessedEvent.seq > Cabinet.acked_seq,
                ),
            )
        )
    )
    stored = _Stored(set(), set())
    for event_id, cabinet_id, seq in rows:
        stored.ids.add(event_id)
        stored.seqs.add((cabinet_id, seq))
    return stored


def _record(seen: _Stored, cabinet: Cabinet, event: Event, kind: str, payload: dict[str, Any]) -> bool:
    """Store the event under its id and seq; False when either was stored before."""
    event_id = str(event.event_id)
    if event_id in seen.ids:
        log.info("duplicate event", event_id=event_id, seq=event.seq)
        return False
    if seen.has_seq(cabinet, event.seq):
        log.error("seq reused by another event", cabinet=cabinet.code, seq=event.seq)
        return False
    seen.ids.add(event_id)
    seen.seqs.add((cabinet.id, event.seq))
    seen.new.append(
        {
            "event_id": event_id,
            "cabinet_id": cabinet.id,
            "seq": event.seq,
            "kind": kind,
            "payload": payload,
            "happened_at": event.ts,
            "received_at": seen.at,
        }
    )
    return True


def _advance_all(db: Db, cabinets: dict[str, Cabinet], seen: _Stored) -> dict[str, int]:
    """Store the batch's new events; return each cabinet's highest seq with every seq up to it stored
    (shared subscriptions reorder), from what the batch found stored and what it added: no query."""
    insert_rows(db, ProcessedEvent, seen.new)
    seen.new = []
    above: dict[int, list[int]] = {}
    for cabinet_id, seq in sorted(seen.seqs):
        above.setdefault(cabinet_id, []).append(seq)
    for cabinet in cabinets.values():
        stored = [seq for seq in above.get(cabinet.id, []) if seq > cabinet.acked_seq]
        cabinet.acked_seq = _contiguous(cabinet.acked_seq, stored)
    return {code: cabinet.acked_seq for code, cabinet in cabinets.items()}


def _apply(db: Db, cabinet: Cabinet, event: Event) -> None:
    match event:
        case SessionResult():
            sessions.settle(db, cabinet, event)
        case DoorEvent():
            sessions.on_door(db, cabinet, event)
        case AlarmEvent():
            _gateway_alarm(db, cabinet, event)
            recalibration.follow(db, cabinet, event)


def _alarm_params(event: AlarmEvent) -> dict[str, Any]:
    """What the gateway said, as values a page can word (`alarm` is the gateway's own kind)."""
    where: dict[str, Any] = {"door": event.door, "channel": event.channel, "board": event.board_addr}
    figures = event.scale.model_dump(include={"drift_g_per_h", "creep_g", "noise_g"}) if event.scale else {}
    where |= {name: value if value is not None else "?" for name, value in figures.items()}
    return {"alarm": event.alarm} | {name: value for name, value in where.items() if value is not None}


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
            params=_alarm_params(event),
            at=event.ts,
        )
    else:
        alarms.resolve(db, cabinet, kind, key, at=event.ts)


def _contiguous(high: int, stored: list[int]) -> int:
    """The highest seq reached from `high` by the stored seqs (ascending) without a gap."""
    for seq in stored:
        if seq != high + 1:
            break
        high = seq
    return high


def on_status(db: Db, cabinet_code: str, status: Status) -> None:
    apply_status(db, cabinet_by_code(db, cabinet_code), status)


def apply_status(db: Db, cabinet: Cabinet, status: Status) -> None:
    online = status.state == "online"
    # Online and told so again (a reconnect, a fleet's birth storm): nothing to resolve, so no query.
    unchanged = online and cabinet.online
    cabinet.online = online
    cabinet.last_seen = datetime.now(UTC)
    if not unchanged:
        why = "the gateway's last will"
        alarms.set_alarm(db, cabinet, not online, "offline", detail=why, params={"last_will": True})
    if status.config_version is not None:
        outbox.config_applied(db, cabinet, status.config_version)


def on_ack(db: Db, cabinet_code: str, ack: Ack) -> float | None:
    return sessions.on_ack(db, cabinet_by_code(db, cabinet_code), ack)
