"""Disputes: a resident objects to a receipt within 48 hours; ops decide from the sensor trace."""

from __future__ import annotations

from typing import Literal

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import RowId, SessionId
from cloud.usecases import disputes
from cloud.usecases.views import DisputeView, SessionView

router = APIRouter(prefix="/api/v1", tags=["disputes"])


class Objection(BaseModel):
    reason: str = Field(min_length=1, max_length=1000, description="what is wrong with the receipt")


class Decision(BaseModel):
    refund_fen: int = Field(ge=0, le=10_000_000, description="0: the dispute is rejected")
    note: str = Field(min_length=1, max_length=1000, description="why, for the resident and the books")


@router.post(
    "/sessions/{session_id}/dispute", status_code=201, responses=documented(401, 403, 404, 409, 413, 422)
)
def dispute(session_id: SessionId, body: Objection, context: ContextDep, user: DetachedUser) -> SessionView:
    """The resident disputes a receipt (within 48 hours of the charge)."""
    return disputes.open_dispute(context, user, session_id, body.reason)


@router.get("/disputes", responses=documented(401, 403, 422))
def queue(
    context: ContextDep, user: DetachedUser, state: Literal["open", "refunded", "rejected"] = "open"
) -> list[DisputeView]:
    """Disputes in the caller's store with their evidence, oldest first."""
    return disputes.queue(context, user, state)


@router.post("/disputes/{dispute_id}/decision", responses=documented(401, 403, 404, 409, 413, 422))
def decide(dispute_id: RowId, body: Decision, context: ContextDep, user: DetachedUser) -> DisputeView:
    """Refund (some or all of the charge) or reject, saying why; who decided is recorded."""
    return disputes.decide(context, user, dispute_id, body.refund_fen, body.note)
