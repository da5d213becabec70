"""Disputes: a resident objects to a receipt within 48 hours; ops of the cabinet's store decide from the
sensor trace, and a refund goes through the payment ledger with who decided and why."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from cloud import Forbidden, NotFound, Refused
from cloud.db.models import ColdChainRefund, Dispute, User
from cloud.domain import payments
from cloud.domain.auth import in_store, require_role
from cloud.domain.payments import PaymentOrder
from cloud.domain.session_states import Status
from cloud.domain.sessions import get_session

WINDOW = timedelta(hours=48)


def open_dispute(db: Db, *, session_id: str, user: User, reason: str, now: datetime | None = None) -> Dispute:
    session = get_session(db, session_id, lock=True)
    if session.user_id != user.id:
        raise Forbidden("this is not your session", code="not_your_session")
    if session.status != Status.SETTLED or not session.amount_fen or session.settled_at is None:
        raise Refused("only a charged receipt can be disputed", code="nothing_to_dispute")
    if (now or datetime.now(UTC)) - session.settled_at > WINDOW:
        raise Refused("receipts can be disputed for 48 hours", code="dispute_too_late", hours=48)
    if db.scalar(select(Dispute.id).where(Dispute.session_id == session_id)) is not None:
        raise Refused("this receipt is already disputed", code="already_disputed")
    dispute = Dispute(session_id=session_id, user_id=user.id, reason=reason, state="open", decision_note="")
    db.add(dispute)
    db.flush()
    return dispute


def queue(db: Db, user: User, state: str = "open") -> list[Dispute]:
    """Disputes in the caller's store, oldest first."""
    require_role(user, "ops")
    query = select(Dispute).where(Dispute.state == state).order_by(Dispute.opened_at)
    return [d for d in db.scalars(query) if in_store(user, d.session.cabinet.store_id)]


def decide(db: Db, *, dispute_id: int, actor: User, refund_fen: int, note: str) -> Dispute:
    """Refund `refund_fen` (0: reject the dispute); `note` says why, for the resident and the books."""
    require_role(actor, "ops")
    dispute = db.scalar(select(Dispute).where(Dispute.id == dispute_id).with_for_update())
    if dispute is None or not in_store(actor, dispute.session.cabinet.store_id):
        raise NotFound(f"no dispute {dispute_id}", code="no_dispute")
    if dispute.state != "open":
        raise Refused(f"dispute {dispute_id} is already {dispute.state}", code="dispute_decided")
    charged = dispute.session.amount_fen or 0
    if not 0 <= refund_fen <= charged:
        raise Refused(
            f"a refund is between 0 and the {charged} fen charged",
            code="refund_too_large",
            charged_fen=charged,
        )
    cold = select(ColdChainRefund.amount_fen).where(ColdChainRefund.session_id == dispute.session_id)
    if refund_fen and (refunded := db.scalar(cold)) is not None:  # the provider refunds a visit once
        why = "this visit was refunded for the cold chain"
        raise Refused(why, code="cold_chain_refunded", refund_fen=refunded)
    dispute.state = "refunded" if refund_fen else "rejected"
    dispute.refund_fen, dispute.decision_note = refund_fen, note
    dispute.decided_by, dispute.decided_at = actor.id, datetime.now(UTC)
    if refund_fen:
        order = PaymentOrder(dispute.session_id, dispute.user_id, refund_fen, f"dispute {dispute.id}: {note}")
        payments.request(db, "refund", order)
    return dispute
