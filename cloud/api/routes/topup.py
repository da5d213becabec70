"""The store counter: a resident pays in cash or by card, staff credit the prepaid balance."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cloud.api.deps import CurrentUser, SessionDep
from cloud.api.errors import documented
from cloud.domain import topup

router = APIRouter(prefix="/api/v1", tags=["payments"])


class TopUp(BaseModel):
    phone: str = Field(min_length=5, max_length=32)
    amount_fen: int = Field(gt=0, le=topup.MAX_TOP_UP_FEN)
    top_up_id: Annotated[
        str, Field(min_length=8, max_length=64, description="one per top-up: retries are safe")
    ]


@router.post("/top-ups", responses=documented(401, 403, 404, 409, 413, 422))
def top_up(body: TopUp, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Credit a resident's balance (staff and ops); the same `top_up_id` again changes nothing."""
    resident = topup.top_up(
        db, actor=user, phone=body.phone, amount_fen=body.amount_fen, top_up_id=body.top_up_id
    )
    return {"phone": resident.phone, "balance_fen": resident.balance_fen}
