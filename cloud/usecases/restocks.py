"""Restock work: the store's round (pick list and route), its inventory, confirming a visit, and
planning a lane's product change."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import User
from cloud.domain import planogram_changes, restock, store_inventory
from cloud.usecases.views import SessionView


class PlannedChange(BaseModel):
    id: int
    channel: int
    lane: int
    sku: str
    capacity: int
    par_level: int


def round_for(context: CloudContext, user: User, store_id: int, interval: timedelta) -> restock.Round:
    with context.factory() as db:
        return restock.restock_round(db, store_id, interval=interval, actor=user)


def inventory(context: CloudContext, user: User, store_id: int) -> dict[str, int]:
    with context.factory() as db:
        return store_inventory.on_hand_for(db, store_id, actor=user)


def confirm(
    context: CloudContext, user: User, session_id: str, counts: list[dict[str, int]] | None, reason: str = ""
) -> SessionView:
    """Ledger transfers for what was loaded and pulled, and (a product change) the new config, at once."""
    with transaction(context.factory) as db:
        session = restock.confirm_restock(
            db, session_id=session_id, actor=user, counts=counts, signer=context.signer, reason=reason
        )
        view = SessionView.of(session)
    context.outbox_committed()
    return view


def change_lane(
    context: CloudContext,
    user: User,
    cabinet_code: str,
    channel: int,
    lane: int,
    sku: str,
    capacity: int | None,
    par_level: int | None,
) -> PlannedChange:
    """Give a lane another product at the next restock visit (linted before it is accepted)."""
    with transaction(context.factory) as db:
        change = planogram_changes.request_change(
            db,
            cabinet_code=cabinet_code,
            channel=channel,
            lane=lane,
            sku=sku,
            capacity=capacity,
            par_level=par_level,
            actor=user,
        )
        return PlannedChange(
            id=change.id,
            channel=change.channel,
            lane=change.lane,
            sku=sku,
            capacity=change.capacity,
            par_level=change.par_level,
        )
