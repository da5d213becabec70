"""A resident's visit: open (hold funds, sign the unlock), follow the door, settle exactly once."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog
from sqlalchemy import select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session as Db

from cloud import NotFound, Refused
from cloud.commands import CommandSigner
from cloud.db.models import Cabinet, PlanogramLane, Product, Session, User
from cloud.domain import alarms, ledger
from cloud.domain.auth import require_role, require_store
from cloud.domain.fleet import cabinet_by_code
from cloud.domain.payments import PaymentProvider
from protocols.mqtt.schemas import Ack, Command, DoorEvent, LaneDelta, SessionResult

log = structlog.get_logger("cloud.sessions")
LIVE = ("pending", "unlocked", "open", "closed")
# "confirm": a restock visit waiting for the staff member to confirm the counts.
FINAL = ("settled", "review", "confirm", "not_opened", "failed", "refunded")
STALE_AFTER = timedelta(minutes=15)  # a live session older than this no longer holds the door


def open_session(
    db: Db,
    *,
    user: User,
    cabinet_code: str,
    door: int,
    mode: str,
    signer: CommandSigner,
    payments: PaymentProvider,
    hold_fen: int,
) -> tuple[Session, Command]:
    """Refuse with a reason, or hold funds and return the session and its signed unlock."""
    require_role(user, "resident" if mode == "resident" else "staff")
    cabinet = cabinet_by_code(db, cabinet_code)
    if mode == "restock":
        require_store(user, cabinet.store_id)
    if cabinet.state != "active":
        raise Refused("this cabinet is under maintenance")
    if not cabinet.online:
        raise Refused("this cabinet is offline right now; please try again later")
    if door not in doors_of(db, cabinet):
        raise Refused(f"this cabinet has no door {door}")
    session_id = uuid.uuid4().hex[:16]
    command = signer.unlock(cabinet.code, door, session_id, mode)  # type: ignore[arg-type]
    session = Session(
        id=session_id,
        cabinet_id=cabinet.id,
        user_id=user.id,
        door=door,
        mode=mode,
        command_id=str(command.command_id),
        hold_fen=hold_fen if mode == "resident" else 0,
        status="pending",
        holds_door=True,
    )
    _claim_door(db, session)
    if mode == "resident":
        payments.hold(db, user=user, session_id=session_id, amount_fen=hold_fen)
    return session, command


def doors_of(db: Db, cabinet: Cabinet) -> set[int]:
    return set(db.scalars(select(PlanogramLane.door).where(PlanogramLane.cabinet_id == cabinet.id)))


def _claim_door(db: Db, session: Session) -> None:
    """The unique index on the door's holder decides between callers racing for the same door."""
    db.execute(
        update(Session)
        .where(
            Session.cabinet_id == session.cabinet_id,
            Session.door == session.door,
            Session.holds_door.is_(True),
            Session.created_at < datetime.now(UTC) - STALE_AFTER,
        )
        .values(holds_door=None)
    )
    db.add(session)
    try:
        db.flush()
    except IntegrityError:
        raise Refused("someone else is using this door; please wait a moment") from None


def get_session(db: Db, session_id: str, *, lock: bool = False) -> Session:
    query = select(Session).where(Session.id == session_id)
    session = db.scalar(query.with_for_update() if lock else query)
    if session is None:
        raise NotFound(f"no session {session_id!r}")
    return session


def _move(session: Session, status: str, detail: str = "") -> None:
    session.status = status
    if status in FINAL:
        session.holds_door = None
    session.detail = detail or session.detail
    session.updated_at = datetime.now(UTC)


def on_ack(db: Db, cabinet: Cabinet, ack: Ack, payments: PaymentProvider) -> float | None:
    """Apply the gateway's answer; returns the unlock latency in seconds when it accepted."""
    session = db.scalar(select(Session).where(Session.command_id == str(ack.command_id)))
    if session is None or not _owned(db, cabinet, session, ack.model_dump(mode="json")):
        return None
    if session.status in FINAL:
        return None
    if ack.status == "accepted" and session.status == "pending":
        _move(session, "unlocked")
        return (datetime.now(UTC) - session.created_at).total_seconds()
    elif ack.status == "rejected":
        _move(session, "failed", f"{ack.reason}: {ack.detail}")
        payments.release(db, user=_user(db, session), session_id=session.id)
    return None


def on_door(db: Db, cabinet: Cabinet, event: DoorEvent) -> None:
    if event.session_id is None:
        return
    session = db.get(Session, event.session_id)
    if session is None or not _owned(db, cabinet, session, event.model_dump(mode="json")):
        return
    if session.status in FINAL or session.door != event.door:
        return
    if event.action == "opened" and session.status in ("pending", "unlocked"):
        _move(session, "open")
    elif event.action == "closed" and session.status in ("pending", "unlocked", "open"):
        _move(session, "closed")


def settle(db: Db, cabinet: Cabinet, result: SessionResult, payments: PaymentProvider) -> None:
    """The gateway's verdict: stock moves, the resident is charged once, or ops review it."""
    session = db.scalar(select(Session).where(Session.id == result.session_id).with_for_update())
    if session is None:
        _unknown_session(db, cabinet, result)
        return
    if not _owned(db, cabinet, session, result.model_dump(mode="json")):
        return
    if session.status in FINAL:
        log.info("session already settled", session=session.id, status=session.status)
        return
    session.result = result.model_dump(mode="json")
    if result.outcome == "not_opened":
        _move(session, "not_opened")
        payments.release(db, user=_user(db, session), session_id=session.id)
        return
    if session.mode == "restock":
        _restock(db, cabinet, session, result)
        return
    doubt = _doubt(db, cabinet, session, result)
    if doubt:
        _move(session, "review", doubt)
        return
    charge(db, session, result.lanes, payments, event_id=str(result.event_id))


def charge(
    db: Db,
    session: Session,
    lanes: list[LaneDelta],
    payments: PaymentProvider,
    *,
    event_id: str | None = None,
    actor_id: int | None = None,
) -> None:
    """Sale movements for what was taken, and the charge, exactly once."""
    items = _priced(db, lanes)
    amount = sum(i["count"] * i["price_fen"] for i in items)
    for lane in lanes:
        ledger.record(
            db,
            cabinet_id=session.cabinet_id,
            channel=lane.channel,
            lane=lane.lane,
            sku=lane.sku,
            delta=lane.delta,
            kind="sale",
            session_id=session.id,
            event_id=event_id,
            actor_id=actor_id,
        )
    if payments.capture(db, user=_user(db, session), session_id=session.id, amount_fen=amount):
        session.items, session.amount_fen = items, amount
        session.settled_at = datetime.now(UTC)
        _move(session, "settled")


def _owned(db: Db, cabinet: Cabinet, session: Session, evidence: dict[str, Any]) -> bool:
    """Only the cabinet that holds a session may move it; anything else is raised to ops."""
    if session.cabinet_id == cabinet.id:
        return True
    log.warning("a cabinet spoke for another cabinet's session", cabinet=cabinet.code, session=session.id)
    alarms.raise_alarm(
        db,
        cabinet,
        "foreign_session",
        session.id[:32],
        detail=f"{cabinet.code} sent a message for session {session.id} of another cabinet",
        evidence=evidence,
    )
    return False


def _doubt(db: Db, cabinet: Cabinet, session: Session, result: SessionResult) -> str:
    """Why this result may not be charged as it stands ("" when it may)."""
    if result.ambiguous:
        return "the weights did not say for sure; ops will review"
    if any(lane.delta > 0 for lane in result.lanes):
        return "something was put in; ops will review"
    if result.door != session.door or result.mode != session.mode:
        return f"the result is for door {result.door} ({result.mode}), the session for door {session.door}"
    planned = {
        (lane.channel, lane.lane): (lane.door, lane.product.sku)
        for lane in db.scalars(select(PlanogramLane).where(PlanogramLane.cabinet_id == cabinet.id))
    }
    for lane in result.lanes:
        if planned.get((lane.channel, lane.lane)) != (session.door, lane.sku):
            return f"lane {lane.channel}/{lane.lane} ({lane.sku}) is not behind this door; ops will review"
    return ""


def _priced(db: Db, lanes: list[LaneDelta]) -> list[dict[str, Any]]:
    counts: dict[str, int] = {}
    for lane in lanes:
        counts[lane.sku] = counts.get(lane.sku, 0) - lane.delta
    prices = {p.sku: p for p in db.scalars(select(Product).where(Product.sku.in_(counts)))}
    return [
        {
            "sku": sku,
            "count": n,
            "price_fen": prices[sku].price_fen,
            "name_zh": prices[sku].name_zh,
            "name_en": prices[sku].name_en,
        }
        for sku, n in sorted(counts.items())
        if n > 0
    ]


def _restock(db: Db, cabinet: Cabinet, session: Session, result: SessionResult) -> None:
    # Nothing moves in the ledger until the staff member confirms or corrects the counts.
    _move(session, "confirm", "restock: confirm or correct what was loaded and pulled")


def _unknown_session(db: Db, cabinet: Cabinet, result: SessionResult) -> None:
    """Stock moved physically even if we did not open the door (a commissioning unlock)."""
    log.warning("session result for an unknown session", session=result.session_id, cabinet=cabinet.code)
    if result.ambiguous:
        return
    for lane in result.lanes:
        ledger.record(
            db,
            cabinet_id=cabinet.id,
            channel=lane.channel,
            lane=lane.lane,
            sku=lane.sku,
            delta=lane.delta,
            kind="adjustment",
            event_id=str(result.event_id),
            note=f"unknown session {result.session_id}",
        )


def resolve_review(
    db: Db,
    *,
    session_id: str,
    lanes: list[LaneDelta] | None,
    actor: User,
    payments: PaymentProvider,
) -> Session:
    """Ops decide: charge this basket, or (lanes=None) charge nothing and release the hold."""
    require_role(actor, "ops")
    session = get_session(db, session_id, lock=True)
    if session.status != "review":
        raise Refused(f"session {session_id} is {session.status}, not in review")
    if lanes is None:
        payments.release(db, user=_user(db, session), session_id=session.id)
        _move(session, "refunded", f"dismissed by {actor.name}")
        return session
    charge(db, session, lanes, payments, actor_id=actor.id)
    session.detail = f"reviewed by {actor.name}"
    return session


def expire_stale(db: Db, payments: PaymentProvider, ttl: timedelta) -> int:
    """Pending sessions whose unlock nobody acknowledged: fail them and free the funds."""
    cutoff = datetime.now(UTC) - ttl
    stale = db.scalars(select(Session).where(Session.status == "pending", Session.created_at < cutoff)).all()
    for session in stale:
        _move(session, "failed", "the cabinet did not answer")
        payments.release(db, user=_user(db, session), session_id=session.id)
    return len(stale)


def _user(db: Db, session: Session) -> User:
    user = db.get(User, session.user_id)
    assert user is not None
    return user
