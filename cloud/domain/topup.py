"""Top-ups at the store counter: staff credit a resident's prepaid balance, once per top-up id."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import NotFound, Refused
from cloud.db.models import Payment, User
from cloud.domain.auth import require_role

MAX_TOP_UP_FEN = 100_000  # ¥1,000 at a time, as a counter would take


def top_up(db: Session, *, actor: User, phone: str, amount_fen: int, top_up_id: str) -> User:
    """Credit the resident with this phone; the same `top_up_id` again changes nothing."""
    require_role(actor, "staff", "ops")
    if not 0 < amount_fen <= MAX_TOP_UP_FEN:
        raise Refused(
            f"a top-up is 0.01 to {MAX_TOP_UP_FEN / 100:.2f} yuan",
            code="top_up_amount",
            max_fen=MAX_TOP_UP_FEN,
        )
    resident = db.scalar(select(User).where(User.phone == phone, User.role == "resident").with_for_update())
    if resident is None:
        raise NotFound(f"no resident with phone {phone}", code="no_resident", phone=phone)
    done = select(Payment.id).where(Payment.session_id == top_up_id, Payment.kind == "top_up")
    if db.scalar(done) is None:
        resident.balance_fen += amount_fen
        db.add(Payment(user_id=resident.id, session_id=top_up_id, kind="top_up", amount_fen=amount_fen))
        db.flush()
    return resident
