"""The store counter: a resident pays in cash or by card, staff credit the prepaid balance."""

from __future__ import annotations

from pydantic import BaseModel

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import User
from cloud.domain import topup


class Balance(BaseModel):
    phone: str | None
    balance_fen: int


def top_up(context: CloudContext, user: User, phone: str, amount_fen: int, top_up_id: str) -> Balance:
    """Credit a resident's balance (staff and ops); the same `top_up_id` again changes nothing."""
    with transaction(context.factory) as db:
        resident = topup.top_up(db, actor=user, phone=phone, amount_fen=amount_fen, top_up_id=top_up_id)
        return Balance(phone=resident.phone, balance_fen=resident.balance_fen)
