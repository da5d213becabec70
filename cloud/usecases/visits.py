"""A resident's or a restocker's visit: open a door, follow it, and the ops review of doubtful baskets."""

from __future__ import annotations

from typing import Literal

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import User
from cloud.domain import auth, sessions
from cloud.domain.sessions import Decision
from cloud.usecases.views import ReviewView, SessionView

Mode = Literal["resident", "restock"]


def open_door(context: CloudContext, caller: int, cabinet_code: str, door: int, mode: Mode) -> SessionView:
    """Read the caller, hold funds and queue the signed unlock in one transaction; it is sent on commit."""
    with transaction(context.factory) as db:
        session = sessions.open_session(
            db,
            user=auth.account(db, caller),
            cabinet_code=cabinet_code,
            door=door,
            mode=mode,
            signer=context.signer,
            provider=context.payments,
        )
        view = SessionView.of(session)
    context.outbox_committed()
    return view


def show(context: CloudContext, user: User, session_id: str) -> SessionView:
    with context.factory() as db:
        return SessionView.of(sessions.visible(db, session_id, user))


def review_queue(context: CloudContext, user: User) -> list[ReviewView]:
    with context.factory() as db:
        return [ReviewView.of(s) for s in sessions.review_queue(db, user)]


def resolve_review(context: CloudContext, user: User, session_id: str, decision: Decision) -> SessionView:
    with transaction(context.factory) as db:
        session = sessions.resolve_review(db, session_id=session_id, decision=decision, actor=user)
        view = SessionView.of(session)
    context.outbox_committed()
    return view


def choose(context: CloudContext, user: User, session_id: str, offer: int | None) -> SessionView:
    """The resident picks the true basket (charged at once) or none of them (ops review)."""
    with transaction(context.factory) as db:
        view = SessionView.of(sessions.choose(db, session_id=session_id, user=user, offer=offer))
    context.outbox_committed()
    return view
