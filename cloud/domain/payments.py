"""Payments behind one small interface; the embedded provider is a prepaid balance."""

from __future__ import annotations

from typing import Protocol

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import Refused
from cloud.db.models import Payment, User


class PaymentProvider(Protocol):
    def hold(self, db: Session, *, user: User, session_id: str, amount_fen: int) -> None: ...

    def capture(self, db: Session, *, user: User, session_id: str, amount_fen: int) -> bool: ...

    def release(self, db: Session, *, user: User, session_id: str) -> None: ...


class PrepaidBalance:
    """Residents top up at the store; sessions hold, then capture exactly once."""

    def hold(self, db: Session, *, user: User, session_id: str, amount_fen: int) -> None:
        available = user.balance_fen - user.held_fen
        if available < amount_fen:
            raise Refused(
                f"balance too low: {available / 100:.2f} yuan available, "
                f"{amount_fen / 100:.2f} yuan needed to open"
            )
        user.held_fen += amount_fen
        db.add(Payment(user_id=user.id, session_id=session_id, kind="hold", amount_fen=amount_fen))

    def capture(self, db: Session, *, user: User, session_id: str, amount_fen: int) -> bool:
        """Charge and release the hold; False if this session was already charged."""
        if self._has(db, session_id, "capture"):
            return False
        self._release_hold(db, user, session_id)
        user.balance_fen -= amount_fen
        db.add(Payment(user_id=user.id, session_id=session_id, kind="capture", amount_fen=amount_fen))
        return True

    def release(self, db: Session, *, user: User, session_id: str) -> None:
        self._release_hold(db, user, session_id)

    def _release_hold(self, db: Session, user: User, session_id: str) -> None:
        hold = db.scalar(select(Payment).where(Payment.session_id == session_id, Payment.kind == "hold"))
        if hold is None or self._has(db, session_id, "release"):
            return
        user.held_fen -= hold.amount_fen
        db.add(Payment(user_id=user.id, session_id=session_id, kind="release", amount_fen=hold.amount_fen))

    @staticmethod
    def _has(db: Session, session_id: str, kind: str) -> bool:
        found = db.scalar(select(Payment.id).where(Payment.session_id == session_id, Payment.kind == kind))
        return found is not None
