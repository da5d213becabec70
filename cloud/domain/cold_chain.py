"""The cold-chain guard: how long each chilled or frozen lane has been above its storage limit, from
telemetry (offline-folded samples count for every reading they stand for). A lane past its allowance is
withheld: not offered, not charged (a piece taken anyway is a loss), pulled as waste at the next restock,
which releases it. Ops get an incident: the temperature curve, the lanes and pieces exposed, and the
visits that bought exposed pieces during the excursion, refunded in one action and told on their next visit.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

from sqlalchemy import Exists, exists, select
from sqlalchemy.orm import Session as Db
from sqlalchemy.orm import joinedload

from cloud import NotFound, Refused
from cloud.db.bulk import among
from cloud.db.models import (
    Cabinet,
    ColdChainIncident,
    ColdChainRefund,
    Dispute,
    LaneExposure,
    PlanogramLane,
    Product,
    Session,
    StockMovement,
    TemperatureMinute,
    User,
)
from cloud.domain import ledger, payments
from cloud.domain.auth import in_store, require_role, require_store
from cloud.domain.payments import PaymentOrder
from protocols.mqtt.schemas import CabinetSettings, LaneDelta, Telemetry

CURVE_MARGIN = timedelta(minutes=30)  # the chart shows the cabinet cool before and after the excursion


def limits(storage: str, settings: CabinetSettings) -> tuple[float, float, float] | None:
    """(warmest °C, seconds allowed above it in all, °C·s allowed above it or 0) for a storage class;
    ambient goods have none."""
    s = settings
    if storage == "chilled":
        return s.chilled_max_c, s.chilled_excursion_s, s.chilled_excursion_c_min * 60
    if storage == "frozen":
        return s.frozen_max_c, s.frozen_excursion_s, s.frozen_excursion_c_min * 60
    return None


def observe(db: Db, cabinet: Cabinet, sample: Telemetry, settings: CabinetSettings) -> None:
    """Add a sample's time above the limit to each guarded lane; withhold the lanes past their allowance."""
    readings = [v for v in sample.temperatures_c if v is not None]
    if not readings:
        return
    warmest = max(readings)
    seen = _seen(db, cabinet.id)
    over = []  # (lane, *limits) for the guarded lanes this reading is too warm for
    for lane in seen.lanes:
        limit = limits(lane.storage, settings)
        if limit is not None and warmest > limit[0]:
            over.append((lane, *limit))
    if not over:
        return  # cumulative: a cool reading neither adds nor forgets
    if seen.live is None:
        seen.live = {(e.channel, e.lane): e for e in _live(db, cabinet.id)}
    for lane, max_c, allowed_s, allowed_degree_s in over:
        exposure = seen.live.get((lane.channel, lane.lane))
        if exposure is None:
            exposure = LaneExposure(
                cabinet_id=cabinet.id, channel=lane.channel, lane=lane.lane, sku=lane.sku,
                storage=lane.storage, limit_c=max_c, allowed_s=allowed_s,
                allowed_degree_s=allowed_degree_s, exposed_s=0.0,
                degree_s=0.0, started_at=sample.ts, last_ts=sample.ts - timedelta(microseconds=1), pieces=0,
            )  # fmt: skip
            db.add(exposure)
            seen.live[lane.channel, lane.lane] = exposure
        _add(exposure, sample, warmest, settings.telemetry_interval_s)
        if exposure.withheld_at is None and _spent(exposure):
            _withhold(db, cabinet, exposure, sample.ts)


def _spent(exposure: LaneExposure) -> bool:
    """Past the time allowed above the limit, or past the time-temperature sum (when one is set)."""
    by_sum = 0 < exposure.allowed_degree_s <= exposure.degree_s
    return exposure.exposed_s >= exposure.allowed_s or by_sum


def _add(exposure: LaneExposure, sample: Telemetry, warmest: float, interval_s: float) -> None:
    # A repeated live sample adds nothing; a folded backlog sample (sent once, after reconnecting) may be
    # older than the live ones already counted and still counts.
    if sample.ts <= exposure.last_ts and sample.samples == 1:
        return
    seconds = sample.samples * interval_s
    exposure.exposed_s += seconds
    exposure.degree_s += (warmest - exposure.limit_c) * seconds
    exposure.last_ts = max(exposure.last_ts, sample.ts)
    exposure.started_at = min(exposure.started_at, sample.ts)


def _withhold(db: Db, cabinet: Cabinet, exposure: LaneExposure, at: datetime) -> None:
    counts = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
    exposure.withheld_at, exposure.pieces = at, counts.get((exposure.channel, exposure.lane), 0)
    incident = db.scalar(
        select(ColdChainIncident).where(
            ColdChainIncident.cabinet_id == cabinet.id, ColdChainIncident.closed_at.is_(None)
        )
    )
    if incident is None:
        incident = ColdChainIncident(cabinet_id=cabinet.id, started_at=exposure.started_at, withheld_at=at)
        db.add(incident)
        db.flush()
    incident.started_at = min(incident.started_at, exposure.started_at)
    exposure.incident_id = incident.id


class GuardedLane(NamedTuple):
    channel: int
    lane: int
    sku: str
    storage: str


@dataclass
class _Seen:
    """What one transaction has read of a cabinet for the guard: a batch of samples reads it once."""

    lanes: list[GuardedLane]
    live: dict[tuple[int, int], LaneExposure] | None = None  # read when a reading is first too warm


def _seen(db: Db, cabinet_id: int) -> _Seen:
    cache: dict[int, _Seen] = db.info.setdefault("cold_chain", {})
    if cabinet_id not in cache:
        read_guarded_lanes(db, {cabinet_id})
    return cache[cabinet_id]


def read_guarded_lanes(db: Db, cabinet_ids: set[int]) -> None:
    """The chilled and frozen lanes of these cabinets, in one query: a batch of telemetry from many
    cabinets would otherwise ask once per cabinet."""
    cache: dict[int, _Seen] = db.info.setdefault("cold_chain", {})
    unread = cabinet_ids - cache.keys()
    if not unread:
        return
    query = (
        select(
            PlanogramLane.cabinet_id, PlanogramLane.channel, PlanogramLane.lane, Product.sku, Product.storage
        )
        .join(Product)
        .where(among(db, PlanogramLane.cabinet_id, unread), Product.storage != "ambient")
    )
    for cabinet_id in unread:
        cache[cabinet_id] = _Seen([])
    for cabinet_id, channel, lane, sku, storage in db.execute(query):
        cache[cabinet_id].lanes.append(GuardedLane(channel, lane, sku, storage))


def _live(db: Db, cabinet_id: int) -> list[LaneExposure]:
    query = select(LaneExposure).where(
        LaneExposure.cabinet_id == cabinet_id, LaneExposure.released_at.is_(None)
    )
    return list(db.scalars(query))


def any_withheld(cabinet_id: Any) -> Exists:
    """Whether some lane of the cabinet is withheld: a column for a caller's own query (the open's)."""
    return exists().where(
        LaneExposure.cabinet_id == cabinet_id,
        LaneExposure.released_at.is_(None),
        LaneExposure.withheld_at.is_not(None),
    )


def withheld(db: Db, cabinet_id: int) -> dict[tuple[int, int], LaneExposure]:
    """The cabinet's lanes that must not be sold, by (channel, lane)."""
    return {(e.channel, e.lane): e for e in _live(db, cabinet_id) if e.withheld_at is not None}


def reason(exposure: LaneExposure) -> dict[str, Any]:
    """Why a lane is withheld, for the pages (translated as `withheld_cold_chain`)."""
    return {
        "code": "cold_chain",
        "limit_c": exposure.limit_c,
        "minutes": round(exposure.exposed_s / 60),
        "since": exposure.withheld_at.isoformat() if exposure.withheld_at else None,
    }


def waste_note(exposure: LaneExposure) -> str:
    return (
        f"cold chain: {exposure.exposed_s / 60:.0f} min above {exposure.limit_c:g} °C "
        f"(allowed {exposure.allowed_s / 60:.0f}), incident {exposure.incident_id}"
    )


def split_taken(db: Db, cabinet_id: int, lanes: list[LaneDelta]) -> tuple[list[LaneDelta], list[LaneDelta]]:
    """(charged, lost): pieces taken from a withheld lane are not charged; the ledger books them as a loss."""
    held = withheld(db, cabinet_id)
    if not held:
        return lanes, []
    lost = [lane for lane in lanes if (lane.channel, lane.lane) in held and lane.delta < 0]
    return [lane for lane in lanes if lane not in lost], lost


def refuse_if_nothing_sellable(db: Db, cabinet: Cabinet, door: int) -> None:
    """A door with withheld lanes and nothing else in stock behind it does not open for residents."""
    held = withheld(db, cabinet.id)
    if not held:
        return
    counts = {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}
    query = select(PlanogramLane).where(PlanogramLane.cabinet_id == cabinet.id, PlanogramLane.door == door)
    behind = db.scalars(query)
    if not any(counts.get((r.channel, r.lane), 0) > 0 and (r.channel, r.lane) not in held for r in behind):
        raise Refused(
            "the goods behind this door are withheld: its cooling failed",
            code="cold_chain_withheld",
            door=door,
        )


def release(db: Db, exposure: LaneExposure, session_id: str) -> None:
    """A restock replaced the lane's pieces: it sells again; the incident closes with its last lane."""
    now = datetime.now(UTC)
    exposure.released_at, exposure.released_by = now, session_id
    if exposure.incident_id is None:
        return
    db.flush()
    left = db.scalar(
        select(LaneExposure.id).where(
            LaneExposure.incident_id == exposure.incident_id, LaneExposure.released_at.is_(None)
        )
    )
    if left is None:
        incident = db.get(ColdChainIncident, exposure.incident_id)
        assert incident is not None
        incident.closed_at = now


# -- ops: incidents and their refunds ------------------------------------------------------------


def incidents(db: Db, actor: User) -> list[dict[str, Any]]:
    """The caller's store's incidents, newest first, each with its lanes, curve and affected visits."""
    require_role(actor, "ops")
    query = select(ColdChainIncident).options(joinedload(ColdChainIncident.cabinet))
    rows = db.scalars(query.order_by(ColdChainIncident.withheld_at.desc()))
    return [view(db, i) for i in rows if in_store(actor, i.cabinet.store_id)]


def view(db: Db, incident: ColdChainIncident) -> dict[str, Any]:
    lanes = _lanes(db, incident.id)
    query = select(ColdChainRefund).where(ColdChainRefund.incident_id == incident.id)
    refunds = {r.session_id: r for r in db.scalars(query)}
    return {
        "id": incident.id,
        "cabinet": incident.cabinet.code,
        "cabinet_name": incident.cabinet.name,
        "started_at": incident.started_at,
        "withheld_at": incident.withheld_at,
        "closed_at": incident.closed_at,
        "refunded_at": incident.refunded_at,
        "lanes": [
            {
                "channel": e.channel,
                "lane": e.lane,
                "sku": e.sku,
                "storage": e.storage,
                "limit_c": e.limit_c,
                "allowed_s": e.allowed_s,
                "allowed_degree_s": e.allowed_degree_s,
                "exposed_s": e.exposed_s,
                "degree_s": round(e.degree_s, 1),
                "started_at": e.started_at,
                "withheld_at": e.withheld_at,
                "pieces": e.pieces,
                "released_at": e.released_at,
                "released_by": e.released_by,
            }
            for e in lanes
        ],  # fmt: skip
        "sessions": [
            {**s, "refunded_fen": refunds[s["session_id"]].amount_fen if s["session_id"] in refunds else None}
            for s in affected(db, incident)
        ],
        "curve": curve(db, incident),
    }


def _lanes(db: Db, incident_id: int) -> list[LaneExposure]:
    query = select(LaneExposure).where(LaneExposure.incident_id == incident_id)
    return list(db.scalars(query.order_by(LaneExposure.channel, LaneExposure.lane)))


def curve(db: Db, incident: ColdChainIncident) -> list[dict[str, Any]]:
    """The warmest probe per minute around the excursion (the one-minute roll-ups)."""
    end = (incident.closed_at or datetime.now(UTC)) + CURVE_MARGIN
    rows = db.scalars(
        select(TemperatureMinute)
        .where(
            TemperatureMinute.cabinet_id == incident.cabinet_id,
            TemperatureMinute.minute >= incident.started_at - CURVE_MARGIN,
            TemperatureMinute.minute <= end,
        )
        .order_by(TemperatureMinute.minute)
    )
    warmest: dict[datetime, float] = {}
    for row in rows:
        warmest[row.minute] = max(warmest.get(row.minute, row.max_c), row.max_c)
    return [{"minute": m, "max_c": c} for m, c in warmest.items()]


def affected(db: Db, incident: ColdChainIncident) -> list[dict[str, Any]]:
    """Resident visits charged for pieces of an exposed lane taken after its excursion began."""
    per_session: dict[str, dict[str, int]] = defaultdict(lambda: defaultdict(int))
    for e in _lanes(db, incident.id):
        sales = db.execute(
            select(StockMovement.session_id, StockMovement.delta).where(
                StockMovement.cabinet_id == incident.cabinet_id,
                StockMovement.channel == e.channel,
                StockMovement.lane == e.lane,
                StockMovement.kind == "sale",
                StockMovement.session_id.is_not(None),
                StockMovement.created_at >= e.started_at,
            )
        )
        for session_id, delta in sales:
            per_session[str(session_id)][e.sku] -= delta
    found = []
    prices = {p.sku: p for p in db.scalars(select(Product))}
    for session_id, skus in sorted(per_session.items()):
        visit = db.get(Session, session_id)
        if visit is None or visit.mode != "resident":
            continue
        items = [{"sku": sku, "count": n, "price_fen": prices[sku].price_fen, "name_zh": prices[sku].name_zh,
                  "name_en": prices[sku].name_en} for sku, n in sorted(skus.items()) if n > 0]  # fmt: skip
        if not items:
            continue
        resident = db.get(User, visit.user_id)
        assert resident is not None
        bought = sum(n * prices[sku].price_fen for sku, n in skus.items() if n > 0)
        amount = min(bought, visit.amount_fen or 0)  # never more than the visit was charged
        found.append({"session_id": session_id, "resident": resident.name, "user_id": resident.id,
                      "at": visit.settled_at, "items": items, "amount_fen": amount})  # fmt: skip
    return found


def refund(db: Db, incident_id: int, actor: User) -> dict[str, Any]:
    """One action: refund every affected visit (once each) and tell each resident on their next visit."""
    require_role(actor, "ops")
    query = select(ColdChainIncident).where(ColdChainIncident.id == incident_id)
    incident = db.scalar(query.with_for_update())
    if incident is None:
        raise NotFound(f"no cold-chain incident {incident_id}", code="no_incident", incident=incident_id)
    require_store(actor, incident.cabinet.store_id)
    if incident.refunded_at is not None:
        raise Refused(f"incident {incident_id} is already refunded", code="already_refunded")
    for visit in affected(db, incident):
        sid = visit["session_id"]
        disputed = db.scalar(select(Dispute.id).where(Dispute.session_id == sid, Dispute.state == "refunded"))
        done = db.scalar(select(ColdChainRefund.id).where(ColdChainRefund.session_id == sid))
        if disputed is not None or done is not None or visit["amount_fen"] <= 0:
            continue  # one refund per visit: the payment provider allows no second
        db.add(ColdChainRefund(incident_id=incident.id, session_id=sid, user_id=visit["user_id"],
                               amount_fen=visit["amount_fen"], items=visit["items"]))  # fmt: skip
        why = f"cold chain incident {incident.id}"
        payments.request(db, "refund", PaymentOrder(sid, visit["user_id"], visit["amount_fen"], reason=why))
    incident.refunded_at, incident.refunded_by = datetime.now(UTC), actor.id
    db.flush()
    return view(db, incident)


# -- residents: told once, on their next visit ---------------------------------------------------


def notices(db: Db, user: User) -> list[dict[str, Any]]:
    """Cold-chain refunds the resident has not been told of yet; telling them marks them told."""
    rows = list(
        db.scalars(
            select(ColdChainRefund)
            .where(ColdChainRefund.user_id == user.id, ColdChainRefund.notified_at.is_(None))
            .order_by(ColdChainRefund.id)
        )
    )
    now = datetime.now(UTC)
    for row in rows:
        row.notified_at = now
    return [
        dict(session_id=r.session_id, amount_fen=r.amount_fen, items=r.items, refunded_at=r.created_at)
        for r in rows
    ]
