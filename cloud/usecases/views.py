"""What the use cases answer: typed views of domain rows, read inside their transaction."""

from __future__ import annotations

from datetime import datetime
from typing import Any, Literal

from pydantic import BaseModel
from sqlalchemy import select
from sqlalchemy.orm import Session as Db
from sqlalchemy.orm import object_session

from cloud.db.models import Dispute, Session, User
from cloud.domain import payments
from cloud.domain.session_states import LIVE, WAITING, Status

Phase = Literal["live", "waiting", "final"]


class Item(BaseModel):
    sku: str
    count: int
    price_fen: int
    name_zh: str
    name_en: str


class SessionView(BaseModel):
    session_id: str
    status: Status
    # live: the door is in use; waiting: a person must decide (ops review, staff confirm) or the money
    # has not moved yet (capture or release queued); final: nothing will change any more.
    phase: Phase
    detail: str
    cabinet_code: str
    door: int
    mode: str
    items: list[Item]
    amount_fen: int | None
    hold_fen: int
    created_at: datetime
    settled_at: datetime | None
    candidates: list[dict[str, Any]]  # the weights' candidate baskets while in review
    # The baskets the resident may choose from (choose) or ops see priced (review): most likely first,
    # each {index, probability, items, amount_fen, lanes}; choosing one charges it.
    offers: list[dict[str, Any]]
    detected: list[dict[str, Any]]  # a restock visit: per lane, what the scales saw
    # A restock visit: per lane {channel, lane, sku, planned, pulled, detected, verdict}; the verdict
    # (match, mismatch, cannot_tell) says whether the plan explains the shelf's weight change.
    check: list[dict[str, Any]]
    dispute: DisputeState | None  # the resident's objection to this receipt, and what ops decided

    @classmethod
    def of(cls, s: Session) -> SessionView:
        status = Status(s.status)
        result: dict[str, Any] = dict(s.result or {})
        return cls(
            session_id=s.id,
            status=status,
            phase=phase(status, status not in LIVE | WAITING and payments.outstanding(_db(s), s.id)),
            detail=s.detail,
            cabinet_code=s.cabinet.code,
            door=s.door,
            mode=s.mode,
            items=[Item.model_validate(i) for i in s.items or []],
            amount_fen=s.amount_fen,
            hold_fen=s.hold_fen,
            created_at=s.created_at,
            settled_at=s.settled_at,
            candidates=result.get("candidates", []) if status == Status.REVIEW else [],
            offers=result.get("offers", []) if status in (Status.CHOOSE, Status.REVIEW) else [],
            detected=result.get("lanes", []) if s.mode == "restock" else [],
            check=result.get("check", []) if s.mode == "restock" else [],
            dispute=_dispute(s),
        )


class DisputeState(BaseModel):
    id: int
    state: str  # open | refunded | rejected
    reason: str
    refund_fen: int
    decision_note: str


class ReviewView(SessionView):
    result: dict[str, Any] | None  # the gateway's whole result: per-shelf weights and candidates

    @classmethod
    def of(cls, s: Session) -> ReviewView:
        return cls(**SessionView.of(s).model_dump(), result=s.result)


def phase(status: Status, money_moving: bool) -> Phase:
    if status in LIVE:
        return "live"
    return "waiting" if status in WAITING or money_moving else "final"


def _dispute(s: Session) -> DisputeState | None:
    if Status(s.status) in LIVE:
        return None  # only a receipt can be disputed: a live visit has none to look up
    found = _db(s).scalar(select(Dispute).where(Dispute.session_id == s.id))
    return DisputeState.model_validate(found, from_attributes=True) if found else None


def _db(s: Session) -> Db:
    db = object_session(s)
    assert db is not None, "views are read inside the use case's transaction"
    return db


class DisputeView(BaseModel):
    """What ops decide a dispute from: the receipt, the resident's words, the sensor trace."""

    id: int
    state: str
    reason: str
    opened_at: datetime
    resident: str  # name and the phone's last four digits
    refund_fen: int
    decided_by: str | None
    decided_at: datetime | None
    decision_note: str
    session: ReviewView  # items, amount, and the result: per-shelf weights before/after, candidates

    @classmethod
    def of(cls, d: Dispute) -> DisputeView:
        db = _db(d.session)
        resident = db.get(User, d.user_id)
        decider = db.get(User, d.decided_by) if d.decided_by else None
        return cls(
            id=d.id,
            state=d.state,
            reason=d.reason,
            opened_at=d.opened_at,
            resident=f"{resident.name} ···{(resident.phone or '')[-4:]}" if resident else "",
            refund_fen=d.refund_fen,
            decided_by=decider.name if decider else None,
            decided_at=d.decided_at,
            decision_note=d.decision_note,
            session=ReviewView.of(d.session),
        )
