"""A lane gets another product: requested ahead, carried out (pull old, load new) by a restock visit."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import NotFound, Refused
from cloud.db.models import Cabinet, PlanogramChange, PlanogramLane, Product, User
from cloud.domain.auth import require_role, require_store
from cloud.domain.cabinet_settings import effective_settings
from cloud.domain.fleet import cabinet_by_code, planogram
from protocols.planogram import Channel
from protocols.planogram_lint import PlanogramRejected, check_planogram

LaneKey = tuple[int, int]


def request_change(
    db: Session,
    *,
    cabinet_code: str,
    channel: int,
    lane: int,
    sku: str,
    capacity: int | None,
    par_level: int | None,
    actor: User,
) -> PlanogramChange:
    """Plan a product change for the next restock; refused if the shelf could not tell products apart."""
    require_role(actor, "staff", "ops")
    cabinet = cabinet_by_code(db, cabinet_code)
    require_store(actor, cabinet.store_id)
    row = _lane(db, cabinet, channel, lane)
    product = db.scalar(select(Product).where(Product.sku == sku))
    if product is None:
        raise NotFound(f"no product {sku!r}", code="no_product", sku=sku)
    _lint_with(db, cabinet, channel, lane, product, capacity or row.capacity)
    for old in pending(db, cabinet.id).values():
        if (old.channel, old.lane) == (channel, lane):
            db.delete(old)  # the newest request for a lane wins
    change = PlanogramChange(
        cabinet_id=cabinet.id,
        channel=channel,
        lane=lane,
        product_id=product.id,
        capacity=capacity or row.capacity,
        par_level=par_level or row.par_level,
        requested_by=actor.id,
    )
    db.add(change)
    db.flush()
    return change


def _lane(db: Session, cabinet: Cabinet, channel: int, lane: int) -> PlanogramLane:
    row = db.scalar(
        select(PlanogramLane).where(
            PlanogramLane.cabinet_id == cabinet.id,
            PlanogramLane.channel == channel,
            PlanogramLane.lane == lane,
        )
    )
    if row is None:
        raise NotFound(
            f"cabinet {cabinet.code} has no lane {channel}-{lane}",
            code="no_lane",
            cabinet=cabinet.code,
            lane=f"{channel}-{lane}",
        )
    return row


def _lint_with(
    db: Session, cabinet: Cabinet, channel: int, lane: int, product: Product, capacity: int
) -> None:
    current = planogram(db, cabinet)
    channels = []
    for ch in current.channels:
        lanes = tuple(
            ln.model_copy(
                update={
                    "sku": product.sku,
                    "unit_weight_g": product.unit_weight_g,
                    "tolerance_g": product.tolerance_g,
                    "price_fen": product.price_fen,
                    "chilled": product.chilled,
                }
            )
            if (ch.channel, ln.lane) == (channel, lane)
            else ln
            for ln in ch.lanes
        )
        channels.append(Channel(channel=ch.channel, door=ch.door, lanes=lanes))
    try:
        # Residents may take up to max_take pieces, and the restock loads the whole lane (its capacity).
        max_take = effective_settings(db, cabinet).max_take
        check_planogram(
            current.model_copy(update={"channels": tuple(channels)}),
            max_take=max_take,
            restock={(channel, lane): capacity},
        )
    except PlanogramRejected as exc:
        raise Refused(str(exc), code="planogram_rejected", reason=str(exc)) from None


def pending(db: Session, cabinet_id: int) -> dict[LaneKey, PlanogramChange]:
    rows = db.scalars(
        select(PlanogramChange).where(
            PlanogramChange.cabinet_id == cabinet_id, PlanogramChange.applied_session_id.is_(None)
        )
    )
    return {(r.channel, r.lane): r for r in rows}


def apply(db: Session, change: PlanogramChange, cabinet: Cabinet, session_id: str) -> None:
    """The visit carried it out: the lane holds the new product; the cabinet gets a new config."""
    row = _lane(db, cabinet, change.channel, change.lane)
    row.product_id, row.capacity, row.par_level = change.product_id, change.capacity, change.par_level
    change.applied_session_id = session_id
    cabinet.config_version += 1
