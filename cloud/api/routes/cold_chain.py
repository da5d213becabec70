"""The cold-chain guard: incidents for ops (one action refunds), refund notices for residents."""

from __future__ import annotations

from fastapi import APIRouter

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import RowId
from cloud.usecases import cold_chain
from cloud.usecases.cold_chain import IncidentView, RefundNotice

router = APIRouter(prefix="/api/v1", tags=["cold_chain"])


@router.get("/cold-chain/incidents", responses=documented(401, 403, 422))
def incidents(context: ContextDep, user: DetachedUser) -> list[IncidentView]:
    """The caller's store's incidents, newest first: curve, exposed lanes, visits that took exposed goods."""
    return cold_chain.incidents(context, user)


@router.post("/cold-chain/incidents/{incident_id}/refund", responses=documented(401, 403, 404, 409, 422))
def refund(incident_id: RowId, context: ContextDep, user: DetachedUser) -> IncidentView:
    """Refund every visit that took exposed goods (once each); each resident is told on the next visit."""
    return cold_chain.refund(context, user, incident_id)


@router.post("/me/cold-chain-notices", responses=documented(401, 403, 422))
def notices(context: ContextDep, user: DetachedUser) -> list[RefundNotice]:
    """The resident's cold-chain refunds not told yet; answering marks them told."""
    return cold_chain.notices(context, user)
