"""The cold-chain guard for people: ops see incidents and refund their visits in one action; a resident
is told of a refund on their next visit."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import User
from cloud.domain import cold_chain
from cloud.domain.auth import require_role


class Item(BaseModel):
    sku: str
    count: int
    price_fen: int
    name_zh: str
    name_en: str


class ExposedLane(BaseModel):
    channel: int
    lane: int
    sku: str
    storage: str
    limit_c: float
    allowed_s: float
    allowed_degree_s: float
    exposed_s: float
    degree_s: float
    started_at: datetime
    withheld_at: datetime | None
    pieces: int
    released_at: datetime | None
    released_by: str | None


class AffectedVisit(BaseModel):
    session_id: str
    resident: str
    user_id: int
    at: datetime | None
    items: list[Item]
    amount_fen: int
    refunded_fen: int | None


class Reading(BaseModel):
    minute: datetime
    max_c: float


class IncidentView(BaseModel):
    id: int
    cabinet: str
    cabinet_name: str
    started_at: datetime
    withheld_at: datetime
    closed_at: datetime | None
    refunded_at: datetime | None
    lanes: list[ExposedLane]
    sessions: list[AffectedVisit]
    curve: list[Reading]


class RefundNotice(BaseModel):
    session_id: str
    amount_fen: int
    items: list[Item]
    refunded_at: datetime


def incidents(context: CloudContext, user: User) -> list[IncidentView]:
    with context.factory() as db:
        return [IncidentView.model_validate(i) for i in cold_chain.incidents(db, user)]


def refund(context: CloudContext, user: User, incident_id: int) -> IncidentView:
    with transaction(context.factory) as db:
        view = IncidentView.model_validate(cold_chain.refund(db, incident_id, user))
    context.outbox_committed()
    return view


def notices(context: CloudContext, user: User) -> list[RefundNotice]:
    """The resident's refunds not told yet (telling marks them told)."""
    require_role(user, "resident")
    with transaction(context.factory) as db:
        return [RefundNotice.model_validate(n) for n in cold_chain.notices(db, user)]
