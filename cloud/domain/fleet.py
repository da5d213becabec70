"""Stores, cabinets, products and planograms: seeding, the `config` each cabinet gets, the fleet listing."""

from __future__ import annotations

import json
from dataclasses import dataclass
from functools import cache
from pathlib import Path
from typing import Any, Literal

from sqlalchemy import func, select
from sqlalchemy.orm import Session, joinedload

from cloud import NotFound
from cloud.commands import CommandSigner
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry, PlanogramLane, Product, Store, User
from cloud.domain import ledger, outbox, store_inventory
from cloud.domain.auth import hash_password
from cloud.domain.cabinet_settings import effective_settings
from protocols.mqtt.schemas import Config, LaneStock
from protocols.planogram import Channel, Lane, Planogram
from protocols.planogram_lint import check_planogram

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.json"


def cabinet_by_code(db: Session, code: str) -> Cabinet:
    # With its store: settings, rights and views read it next (one round trip, not two).
    cabinet = db.scalar(select(Cabinet).where(Cabinet.code == code).options(joinedload(Cabinet.store)))
    if cabinet is None:
        raise no_cabinet(code)
    return cabinet


def no_cabinet(code: str) -> NotFound:
    return NotFound(f"no cabinet {code!r}", code="no_cabinet", cabinet=code)


def planogram(db: Session, cabinet: Cabinet) -> Planogram:
    lanes = db.scalars(
        select(PlanogramLane)
        .where(PlanogramLane.cabinet_id == cabinet.id)
        .order_by(PlanogramLane.channel, PlanogramLane.lane)
    ).all()
    channels: dict[int, list[PlanogramLane]] = {}
    for lane in lanes:
        channels.setdefault(lane.channel, []).append(lane)
    return Planogram(
        channels=tuple(
            Channel(channel=number, door=rows[0].door, lanes=tuple(_lane(r) for r in rows))
            for number, rows in sorted(channels.items())
        )
    )


def _lane(row: PlanogramLane) -> Lane:
    p = row.product
    return Lane(
        lane=row.lane,
        sku=p.sku,
        unit_weight_g=p.unit_weight_g,
        tolerance_g=p.tolerance_g,
        capacity=row.capacity,
        price_fen=p.price_fen,
        chilled=p.chilled,
    )


def config_payload(db: Session, cabinet: Cabinet) -> Config:
    """The retained `config` for a cabinet (unsigned): its planogram, linted as the gateway lints it,
    and its settings."""
    plan, settings = planogram(db, cabinet), effective_settings(db, cabinet)
    check_planogram(plan, max_take=settings.max_take)
    return Config(
        version=max(1, cabinet.config_version),
        cabinet_id=cabinet.code,
        planogram=plan,
        settings=settings,
        # The gateway's first bound on what can be taken (it then follows its own definite results).
        stock=[
            LaneStock(channel=s.channel, lane=s.lane, count=max(0, s.count))
            for s in ledger.stock(db, cabinet.id)
        ],
    )


def publish_config(db: Session, cabinet: Cabinet, signer: CommandSigner) -> None:
    """The cabinet's current config, signed, into the outbox with the caller's transaction."""
    outbox.send_config(db, cabinet, signer.config(config_payload(db, cabinet)))


# -- seeding ------------------------------------------------------------------------------


def seed(db: Session, fixture: dict[str, Any]) -> None:
    """Load stores, products, cabinets (planogram and initial stock) and users; idempotent by key."""
    products = {p["sku"]: _upsert_product(db, p) for p in _products(fixture)}
    db.flush()
    stores = {s["code"]: _upsert_store(db, s) for s in fixture.get("stores", [])}
    db.flush()
    for c in fixture.get("cabinets", []):
        _seed_cabinet(db, c, stores[c["store"]], products)
    for u in fixture.get("users", []):
        _upsert_user(db, u, stores)
    for s in fixture.get("stores", []):
        _seed_store_stock(db, stores[s["code"]], s.get("stock_each", 0), products)


def _seed_store_stock(db: Session, store: Store, each: int, products: dict[str, Product]) -> None:
    if not each or store_inventory.on_hand(db, store.id):
        return  # received once; re-seeding must not receive again
    for sku in products:
        store_inventory.record(db, store_id=store.id, sku=sku, delta=each, kind="receive", note="seed")


def _products(fixture: dict[str, Any]) -> list[dict[str, Any]]:
    if fixture.get("products") == "catalog":
        return list(_catalog()["products"])
    return list(fixture.get("products", []))


def _upsert(db: Session, model: type[Any], key: str, values: dict[str, Any]) -> Any:
    row = db.scalar(select(model).where(getattr(model, key) == values[key]))
    if row is None:
        row = model(**values)
        db.add(row)
    else:
        for name, value in values.items():
            setattr(row, name, value)
    return row


def _upsert_product(db: Session, p: dict[str, Any]) -> Product:
    fields = (
        "sku",
        "name_zh",
        "name_en",
        "price_fen",
        "unit_weight_g",
        "tolerance_g",
        "chilled",
        "shelf_life_days",
    )
    values = {k: p[k] for k in fields if k in p}
    # The cold chain's storage class: a catalog without one has chilled goods and ambient ones.
    values["storage"] = p.get("storage", "chilled" if p.get("chilled") else "ambient")
    return _upsert(db, Product, "sku", values)  # type: ignore[no-any-return]


def _upsert_store(db: Session, s: dict[str, Any]) -> Store:
    values = {k: s[k] for k in ("code", "name_zh", "name_en", "lat", "lon")}
    return _upsert(db, Store, "code", values)  # type: ignore[no-any-return]


def _seed_cabinet(db: Session, c: dict[str, Any], store: Store, products: dict[str, Product]) -> None:
    existing = db.scalar(select(Cabinet).where(Cabinet.code == c["code"]))
    if existing is not None:
        return  # stock is in the ledger now; re-seeding must not add it twice
    cabinet = Cabinet(
        code=c["code"],
        store_id=store.id,
        name=c.get("name", c["code"]),
        layout=c["layout"],
        lat=c["lat"],
        lon=c["lon"],
        config_version=1,
    )
    db.add(cabinet)
    db.flush()
    for ch in _channels(c):
        for lane in ch["lanes"]:
            db.add(
                PlanogramLane(
                    cabinet_id=cabinet.id,
                    channel=ch["channel"],
                    door=ch.get("door", 0),
                    lane=lane["lane"],
                    product_id=products[lane["sku"]].id,
                    capacity=lane["capacity"],
                    par_level=lane.get("par_level", lane.get("count") or lane["capacity"]),
                )
            )
            if lane.get("count"):
                ledger.record(
                    db,
                    cabinet_id=cabinet.id,
                    channel=ch["channel"],
                    lane=lane["lane"],
                    sku=lane["sku"],
                    delta=lane["count"],
                    kind="adjustment",
                    note="initial stock at commissioning",
                )
    db.flush()
    check_planogram(planogram(db, cabinet))


def _channels(c: dict[str, Any]) -> list[dict[str, Any]]:
    if "channels" in c:
        return list(c["channels"])
    return list(_catalog()["layouts"][c["layout"]])


@cache
def _catalog() -> dict[str, Any]:
    """Products and cabinet layouts the demo fleet is seeded from; the same physical cabinets the
    simulator ships (tests/cloud/test_catalog.py keeps the two equal)."""
    return dict(json.loads(CATALOG.read_text(encoding="utf-8")))


def _upsert_user(db: Session, u: dict[str, Any], stores: dict[str, Store]) -> None:
    values: dict[str, Any] = {
        "name": u["name"],
        "phone": u.get("phone"),
        "role": u["role"],
        "store_id": stores[u["store"]].id if u.get("store") else None,
        "balance_fen": u.get("balance_fen", 0),
        "locale": u.get("locale", "zh-CN"),
    }
    if u.get("password"):
        values["password_hash"] = hash_password(u["password"])
    _upsert(db, User, "name", values)


# -- the fleet at a glance ----------------------------------------------------------------------

FleetState = Literal["ok", "offline", "alarm", "low_stock", "maintenance"]


@dataclass(frozen=True)
class FleetQuery:
    """Which cabinets: the caller's scope (None: all stores), a store code, a state, and a page of them."""

    scope_store_id: int | None = None
    store: str | None = None
    state: FleetState | None = None
    page: int = 1
    page_size: int = 100


@dataclass(frozen=True)
class FleetRow:
    cabinet: Cabinet
    store_code: str
    alarms: list[str]
    latest: dict[str, Any]


@dataclass(frozen=True)
class FleetPage:
    counts: dict[str, int]
    total: int  # cabinets matching the filter, over every page
    rows: list[FleetRow]


def _open_alarms() -> Any:
    return select(Alarm.cabinet_id).where(Alarm.state != "resolved")


def _in_scope(q: FleetQuery) -> list[Any]:
    where: list[Any] = []
    if q.scope_store_id is not None:
        where.append(Cabinet.store_id == q.scope_store_id)
    if q.store is not None:
        where.append(Cabinet.store_id.in_(select(Store.id).where(Store.code == q.store)))
    return where


def _in_state(state: FleetState | None) -> list[Any]:
    alarmed = Cabinet.id.in_(_open_alarms())
    match state:
        case "ok":
            return [Cabinet.online, ~alarmed]
        case "offline":
            return [~Cabinet.online]
        case "alarm":
            return [Cabinet.online, alarmed]
        case "low_stock":
            return [Cabinet.id.in_(_open_alarms().where(Alarm.kind == "low_stock"))]
        case "maintenance":
            return [Cabinet.state == "maintenance"]
    return []


def fleet_page(db: Session, q: FleetQuery) -> FleetPage:
    """One page of cabinets with their open alarms and latest sample, and the counts of the whole scope.

    Three queries whatever the fleet's size: the counts (aggregates), the page (joined to its store and
    latest sample), and the open alarms of the page's cabinets."""
    scope = _in_scope(q)
    matching = [*scope, *_in_state(q.state)]
    counts = _counts(db, scope, matching)
    page = db.execute(
        select(Cabinet, Store.code, CabinetTelemetry.payload)
        .join(Store, Cabinet.store_id == Store.id)
        .outerjoin(CabinetTelemetry, CabinetTelemetry.cabinet_id == Cabinet.id)
        .where(*matching)
        .order_by(Cabinet.code)
        .offset((q.page - 1) * q.page_size)
        .limit(q.page_size)
    ).all()
    kinds: dict[int, set[str]] = {}
    ids = [cabinet.id for cabinet, _, _ in page]
    for cabinet_id, kind in db.execute(
        select(Alarm.cabinet_id, Alarm.kind).where(Alarm.state != "resolved", Alarm.cabinet_id.in_(ids))
    ):
        kinds.setdefault(cabinet_id, set()).add(kind)
    rows = [FleetRow(c, store, sorted(kinds.get(c.id, ())), payload or {}) for c, store, payload in page]
    total = counts.pop("total")
    return FleetPage(counts, total, rows)


def _counts(db: Session, scope: list[Any], matching: list[Any]) -> dict[str, int]:
    """The scope's counts and the filter's total, in one statement of scalar subqueries."""
    open_alarms = (
        select(func.count()).select_from(Alarm).join(Cabinet).where(Alarm.state != "resolved", *scope)
    )
    low = (
        select(func.count(Alarm.cabinet_id.distinct()))
        .join(Cabinet)
        .where(Alarm.state != "resolved", Alarm.kind == "low_stock", *scope)
    )
    cabinets = select(func.count()).select_from(Cabinet).where(*scope)
    online = select(func.count()).select_from(Cabinet).where(Cabinet.online, *scope)
    total = select(func.count()).select_from(Cabinet).where(*matching)
    row = db.execute(
        select(
            cabinets.scalar_subquery(),
            online.scalar_subquery(),
            open_alarms.scalar_subquery(),
            low.scalar_subquery(),
            total.scalar_subquery(),
        )
    ).one()
    n, up, alarmed, low_stock, matched = (int(v or 0) for v in row)
    return {
        "cabinets": n,
        "online": up,
        "offline": n - up,
        "alarms": alarmed,
        "low_stock": low_stock,
        "total": matched,
    }


def fleet_points(db: Session, q: FleetQuery) -> list[tuple[str, float, float, str]]:
    """Every cabinet of the scope as (code, lat, lon, ok|offline|alarm): what a clustered map needs."""
    alarmed = set(db.scalars(_open_alarms()))
    query = select(Cabinet.id, Cabinet.code, Cabinet.lat, Cabinet.lon, Cabinet.online).where(
        *_in_scope(q), *_in_state(q.state)
    )
    return [
        (code, lat, lon, "offline" if not online else "alarm" if cabinet_id in alarmed else "ok")
        for cabinet_id, code, lat, lon, online in db.execute(query.order_by(Cabinet.code))
    ]
