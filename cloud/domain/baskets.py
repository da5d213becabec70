"""What a visit may be charged: a basket priced, the reasons a result may not be charged as it stands,
and the candidate baskets a resident (or ops) may choose from when the weights were not sure."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from cloud.db.models import Cabinet, PlanogramLane, Product, Session
from cloud.domain import cold_chain, ledger
from protocols.mqtt.schemas import LaneDelta, SessionResult


def net_counts(lanes: list[LaneDelta]) -> Counter[str]:
    """Pieces of each product that left the cabinet (a piece moved between shelves nets to zero)."""
    counts: Counter[str] = Counter()
    for lane in lanes:
        counts[lane.sku] -= lane.delta
    return counts


def priced(db: Db, lanes: list[LaneDelta]) -> list[dict[str, Any]]:
    counts = net_counts(lanes)
    prices = {p.sku: p for p in db.scalars(select(Product).where(Product.sku.in_(counts)))}
    return [
        {
            "sku": sku,
            "count": n,
            "price_fen": prices[sku].price_fen,
            "name_zh": prices[sku].name_zh,
            "name_en": prices[sku].name_en,
        }
        for sku, n in sorted(counts.items())
        if n > 0
    ]


def amount(items: list[dict[str, Any]]) -> int:
    return sum(int(i["count"]) * int(i["price_fen"]) for i in items)


def doubt(db: Db, cabinet: Cabinet, session: Session, lanes: list[LaneDelta], result: SessionResult) -> str:
    """Why this basket may not be charged for this visit ("" when it may)."""
    if result.door != session.door or result.mode != session.mode:
        return f"the result is for door {result.door} ({result.mode}), the session for door {session.door}"
    if any(n < 0 for n in net_counts(lanes).values()):
        return "something was put in; ops will review"
    behind = {
        (row.channel, row.lane): row.door
        for row in db.scalars(select(PlanogramLane).where(PlanogramLane.cabinet_id == cabinet.id))
    }
    for lane in lanes:
        if behind.get((lane.channel, lane.lane)) != session.door:
            return f"lane {lane.channel}/{lane.lane} ({lane.sku}) is not behind this door; ops will review"
    return ""


def offers(db: Db, cabinet: Cabinet, session: Session, result: SessionResult) -> list[dict[str, Any]]:
    """The result's candidates that could be charged, most likely first, each priced; never one that
    has a product put in rather than taken, a lane behind another door, or takes more than a lane holds."""
    ranked = sorted(enumerate(result.candidates), key=lambda c: -c[1].probability)
    held = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
    found = []
    for index, candidate in ranked:
        if doubt(db, cabinet, session, candidate.lanes, result):
            continue
        if any(held.get((lane.channel, lane.lane), 0) + lane.delta < 0 for lane in candidate.lanes):
            continue
        charged, _ = cold_chain.split_taken(db, cabinet.id, candidate.lanes)  # withheld goods are free
        items = priced(db, charged)
        found.append(
            {
                "index": index,
                "probability": candidate.probability,
                "items": items,
                "amount_fen": amount(items),
                "lanes": [lane.model_dump() for lane in candidate.lanes],
            }
        )
    return found
