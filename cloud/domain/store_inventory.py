"""The parent store's inventory: what it received, sent to cabinets, got back, wrote off."""

from __future__ import annotations

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import NotFound
from cloud.db.models import Store, StoreMovement, StoreStock, User
from cloud.domain.auth import require_role, require_store

KINDS = {"receive", "transfer_out", "return_in", "write_off"}


def record(
    db: Session,
    *,
    store_id: int,
    sku: str,
    delta: int,
    kind: str,
    session_id: str | None = None,
    cabinet_id: int | None = None,
    actor_id: int | None = None,
    note: str = "",
) -> None:
    if kind not in KINDS:
        raise ValueError(f"unknown store movement {kind!r}")
    db.add(
        StoreMovement(
            store_id=store_id,
            sku=sku,
            delta=delta,
            kind=kind,
            session_id=session_id,
            cabinet_id=cabinet_id,
            actor_id=actor_id,
            note=note,
        )
    )
    row = db.scalar(
        select(StoreStock).where(StoreStock.store_id == store_id, StoreStock.sku == sku).with_for_update()
    )
    if row is None:
        row = StoreStock(store_id=store_id, sku=sku, count=0)
        db.add(row)
    row.count += delta


def on_hand(db: Session, store_id: int) -> dict[str, int]:
    rows = db.scalars(select(StoreStock).where(StoreStock.store_id == store_id))
    return {r.sku: r.count for r in rows}


def on_hand_for(db: Session, store_id: int, *, actor: User) -> dict[str, int]:
    """What the store holds, for its staff and ops."""
    require_role(actor, "staff", "ops")
    require_store(actor, store_id)
    if db.get(Store, store_id) is None:
        raise NotFound(f"no store {store_id}")
    return on_hand(db, store_id)
