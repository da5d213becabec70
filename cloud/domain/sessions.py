"""A resident's visit: open (hold funds, sign the unlock), follow the door, settle exactly once."""

from __future__ import annotations

import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from functools import cache
from typing import Any

import structlog
from sqlalchemy import Select, bindparam, exists, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session as Db
from sqlalchemy.orm import joinedload
from sqlalchemy.orm.attributes import set_committed_value

from cloud import Forbidden, NotFound, Refused
from cloud.commands import CommandSigner
from cloud.db.models import Cabinet, PlanogramLane, Session, User
from cloud.domain import (
    alarms,
    baskets,
    cabinet_settings,
    cold_chain,
    ledger,
    outbox,
    payments,
    restock,
    restock_check,
)
from cloud.domain.auth import in_store, require_role, require_store
from cloud.domain.fleet import no_cabinet
from cloud.domain.payments import PaymentOrder, PaymentProvider
from cloud.domain.session_states import LIVE, Status, can_move, move
from protocols.mqtt.schemas import Ack, DoorEvent, LaneDelta, SessionResult

log = structlog.get_logger("cloud.sessions")
STALE_AFTER = timedelta(minutes=15)  # a live session older than this no longer holds the door
CHOOSE_WAIT = timedelta(minutes=30)  # a resident who has not chosen a basket by then leaves it to ops


def open_session(
    db: Db,
    *,
    user: User,
    cabinet_code: str,
    door: int,
    mode: str,
    signer: CommandSigner,
    provider: PaymentProvider,
    hold_fen: int | None = None,
) -> Session:
    """Refuse with a reason, or hold funds and queue the signed unlock (sent once this commits).

    A resident waits at the door for this: every round trip to the database counts (#13), so what it
    decides on is read in one query and the door is claimed by one statement."""
    require_role(user, "resident" if mode == "resident" else "staff")
    cabinet, has_door, withheld = _door_to_open(db, cabinet_code, door)
    if mode == "restock":
        require_store(user, cabinet.store_id)
    if cabinet.state != "active":
        raise Refused("this cabinet is under maintenance", code="cabinet_maintenance")
    if not cabinet.online:
        raise Refused("this cabinet is offline right now; please try again later", code="cabinet_offline")
    if not has_door:
        raise Refused(f"this cabinet has no door {door}", code="no_door", door=door)
    if mode == "resident" and withheld:
        cold_chain.refuse_if_nothing_sellable(db, cabinet, door)
    if hold_fen is None:
        hold_fen = cabinet_settings.effective_settings(db, cabinet).hold_fen
    session_id = uuid.uuid4().hex[:16]
    command = signer.unlock(cabinet.code, door, session_id, mode)  # type: ignore[arg-type]
    claim = {
        "id": session_id,
        "cabinet_id": cabinet.id,
        "user_id": user.id,
        "door": door,
        "mode": mode,
        "command_id": str(command.command_id),
        "hold_fen": hold_fen if mode == "resident" else 0,
        "status": Status.PENDING.value,
        "holds_door": True,
        "plan": restock.plan_for_visit(db, cabinet) if mode == "restock" else None,
    }
    session = _claim_door(db, claim)
    set_committed_value(session, "cabinet", cabinet)  # the view reads its code: no second look-up
    if mode == "resident":
        provider.hold(db, PaymentOrder(session_id, user.id, hold_fen))
    outbox.send_command(db, command)
    return session


@cache
def _door_to_open_query() -> Select[tuple[Cabinet, bool, bool, Any]]:
    """Built once: constructing the statement cost the waiting resident as much as running it."""
    has_door = exists().where(PlanogramLane.cabinet_id == Cabinet.id, PlanogramLane.door == bindparam("door"))
    return (
        select(Cabinet, has_door, cold_chain.any_withheld(Cabinet.id), cabinet_settings.fleet_values())
        .where(Cabinet.code == bindparam("code"))
        .options(joinedload(Cabinet.store))
    )


def _door_to_open(db: Db, code: str, door: int) -> tuple[Cabinet, bool, bool]:
    """The cabinet (with its store), whether it has the door, whether a lane of it is withheld; the
    fleet's settings are remembered for the transaction. One round trip."""
    row = db.execute(_door_to_open_query(), {"code": code, "door": door}).one_or_none()
    if row is None:
        raise no_cabinet(code)
    cabinet, door_exists, withheld, fleet = row
    cabinet_settings.remember_fleet_values(db, fleet)
    return cabinet, door_exists, withheld


def _claim_door(db: Db, claim: dict[str, Any]) -> Session:
    """Insert the session holding its door; the unique index on the door's holder decides between
    callers racing for it. A holder older than STALE_AFTER is let go, looked for only on a conflict."""
    session = _insert_holder(db, claim)
    if session is None:
        db.execute(
            update(Session)
            .where(
                Session.cabinet_id == claim["cabinet_id"],
                Session.door == claim["door"],
                Session.holds_door.is_(True),
                Session.created_at < datetime.now(UTC) - STALE_AFTER,
            )
            .values(holds_door=None)
        )
        session = _insert_holder(db, claim)
    if session is None:
        raise Refused("someone else is using this door; please wait a moment", code="door_busy")
    return session


def _insert_holder(db: Db, claim: dict[str, Any]) -> Session | None:
    """INSERT … ON CONFLICT DO NOTHING RETURNING: the new session, or None if the door has a holder
    (a failed plain INSERT would abort a PostgreSQL transaction)."""
    session: Session | None = db.scalars(
        _insert_holder_statement(db.get_bind().dialect.name), [claim]
    ).first()
    return session


@cache
def _insert_holder_statement(dialect: str) -> Any:
    holder = ["cabinet_id", "door", "holds_door"]  # the unique index uq_sessions_door_holder
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    return insert(Session).on_conflict_do_nothing(index_elements=holder).returning(Session)


def get_session(db: Db, session_id: str, *, lock: bool = False) -> Session:
    query = select(Session).where(Session.id == session_id)
    session = db.scalar(query.with_for_update() if lock else query)
    if session is None:
        raise NotFound(f"no session {session_id!r}", code="no_session")
    return session


def on_ack(db: Db, cabinet: Cabinet, ack: Ack) -> float | None:
    """Apply the gateway's answer; returns the unlock latency in seconds when it accepted."""
    session = db.scalar(select(Session).where(Session.command_id == str(ack.command_id)))
    if session is None or not _owned(db, cabinet, session, ack.model_dump(mode="json")):
        return None
    if session.status != Status.PENDING:
        return None  # a late or repeated answer: the visit has moved on
    if ack.status == "accepted":
        move(session, Status.UNLOCKED)
        return (datetime.now(UTC) - session.created_at).total_seconds()
    # "replayed": a second copy of an unlock the gateway already has (the outbox may deliver twice).
    if ack.status == "rejected" and ack.reason != "replayed":
        move(session, Status.FAILED, f"{ack.reason}: {ack.detail}")
        _release(db, session)
    return None


def on_door(db: Db, cabinet: Cabinet, event: DoorEvent) -> None:
    if event.session_id is None:
        return
    session = db.get(Session, event.session_id)
    if session is None or not _owned(db, cabinet, session, event.model_dump(mode="json")):
        return
    if session.status not in LIVE or session.door != event.door:
        return
    to = Status.OPEN if event.action == "opened" else Status.CLOSED
    if can_move(session, to):
        move(session, to)


def settle(db: Db, cabinet: Cabinet, result: SessionResult) -> None:
    """The gateway's verdict: stock moves, the resident is charged once, or ops review it."""
    session = db.scalar(select(Session).where(Session.id == result.session_id).with_for_update())
    if session is None:
        _unknown_session(db, cabinet, result)
        return
    if not _owned(db, cabinet, session, result.model_dump(mode="json")):
        return
    if session.status not in LIVE:
        log.info("session already settled", session=session.id, status=session.status)
        return
    session.result = result.model_dump(mode="json")
    if result.outcome == "not_opened":
        move(session, Status.NOT_OPENED)
        _release(db, session)
        return
    if session.mode == "restock":
        # Nothing moves in the ledger until the staff member confirms or corrects the counts.
        check = restock_check.verdicts(db, session.plan or [], result)
        session.result = {**result.model_dump(mode="json"), "check": check}
        move(session, Status.CONFIRM, "restock: confirm or correct what was loaded and pulled")
        return
    if result.ambiguous:
        _offer(db, cabinet, session, result)
        return
    doubt = baskets.doubt(db, cabinet, session, result.lanes, result)
    if doubt:
        _review(db, cabinet, session, result, doubt)
        return
    charge(db, session, result.lanes, event_id=str(result.event_id))


def _offer(db: Db, cabinet: Cabinet, session: Session, result: SessionResult) -> None:
    """The weights were not sure: the resident chooses among the baskets that could be true (nothing is
    charged until then); with none to offer, ops review."""
    offers = baskets.offers(db, cabinet, session, result)
    if offers:
        session.result = {**result.model_dump(mode="json"), "offers": offers}
        move(session, Status.CHOOSE, "the weights were not sure: which of these did you take?")
    else:
        _review(db, cabinet, session, result, "the weights did not say for sure; ops will review")


def _review(db: Db, cabinet: Cabinet, session: Session, result: SessionResult, why: str) -> None:
    """Ops decide, from the same offers a resident would see (never a basket with something put in)."""
    offers = baskets.offers(db, cabinet, session, result)
    session.result = {**result.model_dump(mode="json"), "offers": offers}
    move(session, Status.REVIEW, why)


def choose(db: Db, *, session_id: str, user: User, offer: int | None) -> Session:
    """The resident says which offered basket is true (charged at once), or none (ops review)."""
    session = get_session(db, session_id, lock=True)
    if session.user_id != user.id:
        raise Forbidden("this is not your session", code="not_your_session")
    if session.status != Status.CHOOSE:
        raise Refused(
            f"session {session_id} is {session.status}: nothing to choose",
            code="nothing_to_choose",
            status=session.status,
        )
    if offer is None:
        move(session, Status.REVIEW, "the resident said none of these baskets was right; ops will review")
        return session
    offers = list((session.result or {}).get("offers", []))  # type: ignore[call-overload]
    if not 0 <= offer < len(offers):
        raise Refused(f"no basket {offer}; there are {len(offers)}", code="no_offer", offer=offer)
    lanes = [LaneDelta.model_validate(lane) for lane in offers[offer]["lanes"]]
    charge(db, session, lanes)
    session.detail = "chosen by the resident"
    return session


def hand_unchosen_to_ops(db: Db, wait: timedelta) -> int:
    """A resident who does not choose within `wait` leaves it to ops; the hold stays until they decide."""
    cutoff = datetime.now(UTC) - wait
    query = select(Session).where(Session.status == Status.CHOOSE.value, Session.updated_at < cutoff)
    waiting = db.scalars(query.with_for_update(skip_locked=True)).all()
    for session in waiting:
        move(session, Status.REVIEW, "the resident did not choose; ops will review")
    return len(waiting)


def charge(
    db: Db,
    session: Session,
    lanes: list[LaneDelta],
    *,
    event_id: str | None = None,
    actor_id: int | None = None,
) -> None:
    """Sale movements for what was taken, and the charge, exactly once (withheld pieces: a loss, free)."""
    charged, lost = cold_chain.split_taken(db, session.cabinet_id, lanes)
    items = baskets.priced(db, charged)
    amount = baskets.amount(items)
    for lane in lanes:
        ledger.record(
            db,
            cabinet_id=session.cabinet_id,
            channel=lane.channel,
            lane=lane.lane,
            sku=lane.sku,
            delta=lane.delta,
            kind="loss" if lane in lost else "sale",
            session_id=session.id,
            event_id=event_id,
            actor_id=actor_id,
        )
    session.items, session.amount_fen = items, amount
    session.settled_at = datetime.now(UTC)
    move(session, Status.SETTLED)
    payments.request(db, "capture", PaymentOrder(session.id, session.user_id, amount))


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


@dataclass(frozen=True)
class Decision:
    """An ops decision on a review: one of the result's candidates, an explicit basket, or nothing."""

    candidate: int | None = None
    lanes: list[LaneDelta] | None = None
    dismiss: bool = False


def resolve_review(db: Db, *, session_id: str, decision: Decision, actor: User) -> Session:
    """Ops of the cabinet's store decide: charge a basket, or dismiss (charge nothing, release the hold)."""
    require_role(actor, "ops")
    session = get_session(db, session_id, lock=True)
    require_store(actor, session.cabinet.store_id)
    if session.status != Status.REVIEW:
        raise Refused(
            f"session {session_id} is {session.status}, not in review",
            code="not_in_review",
            status=session.status,
        )
    if decision.dismiss:
        _release(db, session)
        move(session, Status.REFUNDED, f"dismissed by {actor.name}")
        return session
    charge(db, session, _chosen(db, session, decision), actor_id=actor.id)
    session.detail = f"reviewed by {actor.name}"
    return session


def _chosen(db: Db, session: Session, decision: Decision) -> list[LaneDelta]:
    if decision.candidate is None:
        _held(db, session, decision.lanes or [])
        return decision.lanes or []
    # `candidate` indexes the result's candidates; only those offered (chargeable) may be charged.
    offered: list[dict[str, Any]] = list((session.result or {}).get("offers", []))  # type: ignore[call-overload]
    offers = {o["index"]: o for o in offered}
    if decision.candidate not in offers:
        raise Refused(
            f"candidate {decision.candidate} is not one that may be charged; offered: {sorted(offers)}",
            code="no_candidate",
            candidate=decision.candidate,
            count=len(offers),
        )
    return [LaneDelta.model_validate(lane) for lane in offers[decision.candidate]["lanes"]]


def _held(db: Db, session: Session, lanes: list[LaneDelta]) -> None:
    """An explicit basket names lanes the cabinet has, each with the product it holds."""
    rows = db.scalars(select(PlanogramLane).where(PlanogramLane.cabinet_id == session.cabinet_id))
    held = {(r.channel, r.lane): r.product.sku for r in rows}
    for lane in lanes:
        if held.get((lane.channel, lane.lane)) != lane.sku:
            raise Refused(
                f"lane {lane.channel}-{lane.lane} of {session.cabinet.code} does not hold {lane.sku!r}",
                code="lane_mismatch",
                lane=f"{lane.channel}-{lane.lane}",
                sku=lane.sku,
            )


def visible(db: Db, session_id: str, user: User) -> Session:
    """Residents see their own sessions; ops those of their store's cabinets (admins all)."""
    session = get_session(db, session_id)
    if session.user_id == user.id:
        return session
    if user.role not in ("ops", "admin"):
        raise Forbidden("this is not your session", code="not_your_session")
    require_store(user, session.cabinet.store_id)
    return session


def review_queue(db: Db, user: User) -> list[Session]:
    """Residents' sessions the weights could not settle, in the caller's store, oldest first."""
    require_role(user, "ops")
    query = select(Session).where(Session.status == Status.REVIEW.value, Session.mode == "resident")
    return [s for s in db.scalars(query.order_by(Session.created_at)) if in_store(user, s.cabinet.store_id)]


def expire_stale(db: Db, ttl: timedelta) -> int:
    """Pending sessions whose unlock nobody acknowledged: fail them and free the funds."""
    cutoff = datetime.now(UTC) - ttl
    query = select(Session).where(Session.status == Status.PENDING.value, Session.created_at < cutoff)
    stale = db.scalars(query.with_for_update(skip_locked=True)).all()
    for session in stale:
        move(session, Status.FAILED, "the cabinet did not answer")
        _release(db, session)
    return len(stale)


def _release(db: Db, session: Session) -> None:
    if session.hold_fen:
        payments.request(db, "release", PaymentOrder(session.id, session.user_id))
