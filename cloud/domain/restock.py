"""Restock rounds: the store's pick list and route from the ledger, and confirming a restock visit."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from cloud import NotFound, Refused
from cloud.commands import CommandSigner
from cloud.db.models import Cabinet, LaneExposure, PlanogramLane, Product, Session, StockMovement, Store, User
from cloud.domain import (
    alarms,
    cold_chain,
    fleet,
    ledger,
    planogram_changes,
    recalibration,
    restock_check,
    store_inventory,
)
from cloud.domain.auth import require_role, require_store
from cloud.domain.demand import FLAT, Demand, lane_demand
from cloud.domain.picklist import LaneState, PickList, plan
from cloud.domain.route import plan_route
from cloud.domain.session_states import Status, move

DEFAULT_VISIT_INTERVAL = timedelta(days=1)


@dataclass
class Round:
    store: Store
    picklist: PickList
    route: list[str]
    distance_km: float
    next_visit: datetime
    points: dict[str, tuple[float, float]]
    recalibrate: dict[str, list[int]]  # cabinet → scale channels to tare at this visit

    def as_json(self) -> dict[str, Any]:
        return {
            "store_id": self.store.id,
            "next_visit": self.next_visit.isoformat(),
            "store": {
                "name_zh": self.store.name_zh,
                "name_en": self.store.name_en,
                "lat": self.store.lat,
                "lon": self.store.lon,
            },
            "points": {code: {"lat": lat, "lon": lon} for code, (lat, lon) in self.points.items()},
            "picking": self.picklist.picking,
            "route": self.route,
            "distance_km": round(self.distance_km, 2),
            "cabinets": [
                {
                    "code": code,
                    "lanes": [lane.__dict__ for lane in self.picklist.cabinets.get(code, [])],
                    "recalibrate": self.recalibrate.get(code, []),
                }
                for code in self.route
            ],
        }


def restock_round(
    db: Db,
    store_id: int,
    now: datetime | None = None,
    interval: timedelta = DEFAULT_VISIT_INTERVAL,
    *,
    actor: User | None = None,
) -> Round:
    """The next round of `store_id`: for its staff and ops (actor=None: the system itself)."""
    if actor is not None:
        require_role(actor, "staff", "ops")
        require_store(actor, store_id)
    now = now or datetime.now(UTC)
    store = db.get(Store, store_id)
    if store is None:
        raise NotFound(f"no store {store_id}", code="no_store", store_id=store_id)
    cabinets = list(db.scalars(select(Cabinet).where(Cabinet.store_id == store_id).order_by(Cabinet.code)))
    next_visit = now + interval
    lanes = _lane_states(db, cabinets, now, next_visit)
    picklist = plan(lanes, store_inventory.on_hand(db, store_id))
    due = recalibration.due_by_cabinet(db, [c.id for c in cabinets])
    recalibrate = {c.code: due[c.id] for c in cabinets if c.id in due}
    to_visit = [
        c
        for c in cabinets
        if c.code in recalibrate or any(p.load or p.pull for p in picklist.cabinets.get(c.code, []))
    ]
    order, distance = plan_route((store.lat, store.lon), [(c.lat, c.lon) for c in to_visit])
    points = {c.code: (c.lat, c.lon) for c in cabinets}
    route = [to_visit[i].code for i in order]
    return Round(store, picklist, route, distance, next_visit, points, recalibrate)


def plan_for_visit(db: Db, cabinet: Cabinet) -> list[dict[str, Any]]:
    """What a restock visit opening now is meant to load and pull in this cabinet."""
    round_ = restock_round(db, cabinet.store_id)
    return restock_check.planned(round_.picklist.cabinets.get(cabinet.code, []))


def _lane_states(db: Db, cabinets: list[Cabinet], now: datetime, next_visit: datetime) -> list[LaneState]:
    demand = lane_demand(db, [c.id for c in cabinets], now)
    states = []
    for cabinet in cabinets:
        counts = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
        changes = planogram_changes.pending(db, cabinet.id)
        exposed = cold_chain.withheld(db, cabinet.id)
        rows = db.scalars(select(PlanogramLane).where(PlanogramLane.cabinet_id == cabinet.id))
        for row in rows:
            change = changes.get((row.channel, row.lane))
            if change is not None:
                count = counts.get((row.channel, row.lane), 0)
                states.append(
                    LaneState(
                        cabinet.code,
                        row.channel,
                        row.lane,
                        change.product.sku,
                        count,
                        change.capacity,
                        change.par_level,
                        0.0,
                        0.0,
                        expiring=count,
                        pull_sku=row.product.sku,
                    )
                )
                continue
            d = demand.get((cabinet.id, row.channel, row.lane), Demand(0.0, FLAT))
            count = counts.get((row.channel, row.lane), 0)
            withheld = (row.channel, row.lane) in exposed  # every piece goes, as waste
            states.append(
                LaneState(
                    cabinet.code,
                    row.channel,
                    row.lane,
                    row.product.sku,
                    count,
                    row.capacity,
                    row.par_level,
                    d.until(now, next_visit),
                    d.per_day,
                    count if withheld else _expiring(db, cabinet.id, row, count, next_visit),
                    exposed=withheld,
                )
            )
    return states


def _expiring(db: Db, cabinet_id: int, row: PlanogramLane, count: int, at: datetime) -> int:
    """Pieces in the lane whose shelf life ends before `at`, assuming first in, first out."""
    product: Product = row.product
    if not product.chilled:
        return 0
    loads = db.execute(
        select(StockMovement.delta, StockMovement.created_at)
        .where(
            StockMovement.cabinet_id == cabinet_id,
            StockMovement.channel == row.channel,
            StockMovement.lane == row.lane,
            StockMovement.delta > 0,
        )
        .order_by(StockMovement.created_at.desc())
    )
    # The newest `count` pieces loaded are the ones still there (FIFO sells the oldest first).
    remaining, expiring = count, 0
    for delta, loaded_at in loads:
        batch = min(delta, remaining)
        if loaded_at + timedelta(days=product.shelf_life_days) <= at:
            expiring += batch
        remaining -= batch
        if remaining <= 0:
            break
    return expiring + max(0, remaining)  # pieces of unknown age count as expiring


def confirm_restock(
    db: Db,
    *,
    session_id: str,
    actor: User,
    counts: list[dict[str, int]] | None,
    signer: CommandSigner,
    reason: str = "",
) -> Session:
    """Staff confirm (counts=None: as detected) or correct what was loaded and pulled per lane.

    A lane that changes product needs `pulled` = every old piece; then it holds the new product, and
    the cabinet's new config goes out through the outbox with this transaction. A count that would
    leave a lane below zero or above its capacity is refused unless `reason` says why (it is recorded).
    """
    require_role(actor, "staff")
    session = db.scalar(select(Session).where(Session.id == session_id).with_for_update())
    if session is None or session.mode != "restock":
        raise NotFound(f"no restock session {session_id!r}", code="no_session")
    if session.status != Status.CONFIRM:
        raise Refused(
            f"restock session {session_id} is {session.status}: nothing to confirm",
            code="nothing_to_confirm",
            status=session.status,
        )
    cabinet = db.get(Cabinet, session.cabinet_id)
    assert cabinet is not None
    require_store(actor, cabinet.store_id)
    detected_lanes: list[dict[str, Any]] = list((session.result or {}).get("lanes", []))  # type: ignore[call-overload]
    detected = {(x["channel"], x["lane"]): x["delta"] for x in detected_lanes}
    final = (
        counts
        if counts is not None
        else [{"channel": c, "lane": n, "delta": d} for (c, n), d in detected.items()]
    )
    rows = {
        (r.channel, r.lane): r
        for r in db.scalars(select(PlanogramLane).where(PlanogramLane.cabinet_id == cabinet.id))
    }
    changes = planogram_changes.pending(db, cabinet.id)
    stock = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
    exposed = cold_chain.withheld(db, cabinet.id)
    notes, changed = [], False
    for entry in final:
        key = (entry["channel"], entry["lane"])
        if key not in rows:
            raise NotFound(
                f"cabinet {cabinet.code} has no lane {key[0]}-{key[1]}",
                code="no_lane",
                cabinet=cabinet.code,
                lane=f"{key[0]}-{key[1]}",
            )
        delta, seen = entry["delta"], detected.get(key, 0)
        note = f"detected {seen}, confirmed {delta}" + (" (corrected)" if seen != delta else "")
        change = changes.get(key)
        after = delta if change is not None else stock.get(key, 0) + delta
        capacity = change.capacity if change is not None else rows[key].capacity
        if not 0 <= after <= capacity:
            if not reason:
                raise Refused(
                    f"lane {key[0]}-{key[1]} would hold {after} of {capacity}: count again or give a reason",
                    code="outside_capacity",
                    lane=f"{key[0]}-{key[1]}",
                    count=after,
                    capacity=capacity,
                )
            note += f"; {after} of {capacity} because: {reason}"
        if change is not None:
            pulled = entry.get("pulled") or 0
            if pulled != stock.get(key, 0):
                raise Refused(
                    f"lane {key[0]}-{key[1]} changes product: pull all {stock.get(key, 0)} old pieces",
                    code="pull_all",
                    lane=f"{key[0]}-{key[1]}",
                    count=stock.get(key, 0),
                )
            _transfer(
                db, cabinet, session, actor, key, rows[key].product.sku, -pulled, "planogram change: pulled"
            )
            planogram_changes.apply(db, change, cabinet, session.id)
            changed = True
            sku = change.product.sku
        else:
            sku = rows[key].product.sku
            if key in exposed:  # what was loaded: the net change plus every exposed piece pulled
                held = stock.get(key, 0)
                delta += _pull_exposed(db, cabinet, session, actor, key, sku, entry, held, exposed[key])
        notes.append(f"{sku}: {note}")
        _transfer(db, cabinet, session, actor, key, sku, delta, note)
    session.settled_at = datetime.now(UTC)
    move(session, Status.SETTLED, "; ".join(notes))
    if changed:  # the gateway infers with the new planogram from its next session on
        fleet.publish_config(db, cabinet, signer)
    alarms.check_stock(db, cabinet)  # a filled lane is not low any more
    return session


def _pull_exposed(
    db: Db,
    cabinet: Cabinet,
    session: Session,
    actor: User,
    key: tuple[int, int],
    sku: str,
    entry: Mapping[str, int | None],
    held: int,
    exposure: LaneExposure,
) -> int:
    """A withheld lane's pieces all come out (the pick list said so) and are booked as waste; the lane
    sells again. Returns the pieces pulled: what was loaded is the lane's net change plus these."""
    pulled = entry.get("pulled")
    pulled = held if pulled is None else pulled
    if pulled != held:
        raise Refused(
            f"lane {key[0]}-{key[1]} is withheld by the cold chain: pull all {held} exposed pieces",
            code="pull_exposed",
            lane=f"{key[0]}-{key[1]}",
            count=held,
        )
    why = cold_chain.waste_note(exposure)
    _transfer(db, cabinet, session, actor, key, sku, -pulled, why)
    if pulled:
        store_inventory.record(
            db, store_id=cabinet.store_id, sku=sku, delta=-pulled, kind="write_off",
            session_id=session.id, cabinet_id=cabinet.id, actor_id=actor.id, note=why,
        )  # fmt: skip
    cold_chain.release(db, exposure, session.id)
    return pulled


def _transfer(
    db: Db,
    cabinet: Cabinet,
    session: Session,
    actor: User,
    key: tuple[int, int],
    sku: str,
    delta: int,
    note: str,
) -> None:
    """Pieces between the store and a lane: the cabinet's ledger and the store's, together."""
    if delta == 0:
        return
    ledger.record(
        db,
        cabinet_id=cabinet.id,
        channel=key[0],
        lane=key[1],
        sku=sku,
        delta=delta,
        kind="transfer",
        session_id=session.id,
        actor_id=actor.id,
        note=note,
    )
    store_inventory.record(
        db,
        store_id=cabinet.store_id,
        sku=sku,
        delta=-delta,
        kind="transfer_out" if delta > 0 else "return_in",
        session_id=session.id,
        cabinet_id=cabinet.id,
        actor_id=actor.id,
        note=note,
    )
