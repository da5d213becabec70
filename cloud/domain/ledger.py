"""The stock ledger: append-only movements, materialised stock per lane, reconciliation."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from cloud.db.models import LaneStock, StockMovement

KINDS = {"sale", "restock_load", "removal", "adjustment", "transfer", "loss"}  # loss: taken uncharged


def record(
    db: Session,
    *,
    cabinet_id: int,
    channel: int,
    lane: int,
    sku: str,
    delta: int,
    kind: str,
    session_id: str | None = None,
    event_id: str | None = None,
    actor_id: int | None = None,
    note: str = "",
) -> StockMovement:
    """Append a movement and update the lane's materialised count in the same transaction."""
    if kind not in KINDS:
        raise ValueError(f"unknown movement kind {kind!r}")
    movement = StockMovement(
        cabinet_id=cabinet_id,
        channel=channel,
        lane=lane,
        sku=sku,
        delta=delta,
        kind=kind,
        session_id=session_id,
        event_id=event_id,
        actor_id=actor_id,
        note=note,
    )
    db.add(movement)
    stock = db.scalar(
        select(LaneStock)
        .where(LaneStock.cabinet_id == cabinet_id, LaneStock.channel == channel, LaneStock.lane == lane)
        .with_for_update()
    )
    if stock is None:
        stock = LaneStock(cabinet_id=cabinet_id, channel=channel, lane=lane, sku=sku, count=0)
        db.add(stock)
    stock.sku = sku
    stock.count += delta
    return movement


def stock(db: Session, cabinet_id: int) -> list[LaneStock]:
    return list(
        db.scalars(
            select(LaneStock)
            .where(LaneStock.cabinet_id == cabinet_id)
            .order_by(LaneStock.channel, LaneStock.lane)
        )
    )


@dataclass(frozen=True)
class Difference:
    channel: int
    lane: int
    materialised: int
    from_ledger: int


def reconcile(db: Session, cabinet_id: int) -> list[Difference]:
    """Lanes whose materialised count disagrees with the sum of the ledger (none, normally)."""
    sums = {
        (channel, lane): int(total)
        for channel, lane, total in db.execute(
            select(StockMovement.channel, StockMovement.lane, func.sum(StockMovement.delta))
            .where(StockMovement.cabinet_id == cabinet_id)
            .group_by(StockMovement.channel, StockMovement.lane)
        )
    }
    materialised = {(s.channel, s.lane): s.count for s in stock(db, cabinet_id)}
    return [
        Difference(key[0], key[1], materialised.get(key, 0), sums.get(key, 0))
        for key in sorted(set(sums) | set(materialised))
        if materialised.get(key, 0) != sums.get(key, 0)
    ]
