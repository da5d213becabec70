"""A visit's states and the one table of moves between them (DESIGN §6).

live: the visit holds its door. waiting: the door is free, but a person must still decide (the resident
picks the true basket, ops review a doubtful one, staff confirm a restock). final: nothing will change.
"""

from __future__ import annotations

from datetime import UTC, datetime
from enum import StrEnum

from cloud.db.models import Session


class Status(StrEnum):
    PENDING = "pending"  # unlock signed and queued; the cabinet has not answered
    UNLOCKED = "unlocked"  # the gateway accepted the unlock
    OPEN = "open"
    CLOSED = "closed"  # door shut, weights settling
    CHOOSE = "choose"  # the weights were not sure: the resident picks the true basket
    REVIEW = "review"  # the weights did not settle the basket (or the resident said none): ops decide
    CONFIRM = "confirm"  # a restock visit waiting for the staff member's counts
    SETTLED = "settled"
    NOT_OPENED = "not_opened"
    FAILED = "failed"
    REFUNDED = "refunded"  # nothing charged after all (a review dismissed)


LIVE = frozenset({Status.PENDING, Status.UNLOCKED, Status.OPEN, Status.CLOSED})
WAITING = frozenset({Status.CHOOSE, Status.REVIEW, Status.CONFIRM})
FINAL = frozenset({Status.SETTLED, Status.NOT_OPENED, Status.FAILED, Status.REFUNDED})
# Where each state may go. Events may be lost or come late, so a live state may skip ahead.
_RESULT = {Status.SETTLED, Status.CHOOSE, Status.REVIEW, Status.CONFIRM, Status.NOT_OPENED}
MOVES: dict[Status, frozenset[Status]] = {
    Status.PENDING: frozenset({Status.UNLOCKED, Status.OPEN, Status.CLOSED, Status.FAILED, *_RESULT}),
    Status.UNLOCKED: frozenset({Status.OPEN, Status.CLOSED, *_RESULT}),
    Status.OPEN: frozenset({Status.CLOSED, *_RESULT}),
    Status.CLOSED: frozenset(_RESULT),
    Status.CHOOSE: frozenset({Status.SETTLED, Status.REVIEW}),
    Status.REVIEW: frozenset({Status.SETTLED, Status.REFUNDED}),
    Status.CONFIRM: frozenset({Status.SETTLED}),
    **{final: frozenset() for final in FINAL},
}


class IllegalMove(RuntimeError):
    """A bug, not a user error: code tried a move the table does not have."""


def state(session: Session) -> Status:
    return Status(session.status)


def can_move(session: Session, to: Status) -> bool:
    return to in MOVES[state(session)]


def move(session: Session, to: Status, detail: str = "") -> None:
    """The only place a visit changes state; the door is freed when it stops being live."""
    if not can_move(session, to):
        raise IllegalMove(f"session {session.id}: {session.status} → {to} is not a move")
    session.status = to.value
    if to not in LIVE:
        session.holds_door = None
    session.detail = detail or session.detail
    session.updated_at = datetime.now(UTC)
