"""The store counter: a resident pays in cash or by card, staff credit the prepaid balance."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.domain import topup
from cloud.usecases import topups
from cloud.usecases.topups import Balance

router = APIRouter(prefix="/api/v1", tags=["payments"])


class TopUp(BaseModel):
    phone: str = Field(min_length=5, max_length=32)
    amount_fen: int = Field(gt=0, le=topup.MAX_TOP_UP_FEN)
    top_up_id: Annotated[
        str, Field(min_length=8, max_length=64, description="one per top-up: retries are safe")
    ]


@router.post("/top-ups", responses=documented(401, 403, 404, 409, 413, 422))
def top_up(body: TopUp, context: ContextDep, user: DetachedUser) -> Balance:
    """Credit a resident's balance (staff and ops); the same `top_up_id` again changes nothing."""
    return topups.top_up(context, user, body.phone, body.amount_fen, body.top_up_id)
