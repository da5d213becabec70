"""Disputes: a resident objects to a receipt; ops decide (refund through the payment ledger, or not)."""

from __future__ import annotations

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import User
from cloud.domain import disputes
from cloud.usecases.views import DisputeView, SessionView


def open_dispute(context: CloudContext, user: User, session_id: str, reason: str) -> SessionView:
    with transaction(context.factory) as db:
        dispute = disputes.open_dispute(db, session_id=session_id, user=user, reason=reason)
        return SessionView.of(dispute.session)


def queue(context: CloudContext, user: User, state: str) -> list[DisputeView]:
    with context.factory() as db:
        return [DisputeView.of(d) for d in disputes.queue(db, user, state)]


def decide(context: CloudContext, user: User, dispute_id: int, refund_fen: int, note: str) -> DisputeView:
    with transaction(context.factory) as db:
        view = DisputeView.of(
            disputes.decide(db, dispute_id=dispute_id, actor=user, refund_fen=refund_fen, note=note)
        )
    context.outbox_committed()
    return view
