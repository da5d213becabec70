"""Stores, cabinets, products and planograms: seeding, and the `config` each cabinet gets."""

from __future__ import annotations

import json
from functools import cache
from pathlib import Path
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import NotFound
from cloud.db.models import Cabinet, PlanogramLane, Product, Store, User
from cloud.domain import ledger, store_inventory
from cloud.domain.auth import hash_password
from protocols.mqtt.schemas import CabinetSettings, Config
from protocols.planogram import Channel, Lane, Planogram
from protocols.planogram_lint import check_planogram

CATALOG = Path(__file__).parent.parent / "fixtures" / "catalog.json"


def cabinet_by_code(db: Session, code: str) -> Cabinet:
    cabinet = db.scalar(select(Cabinet).where(Cabinet.code == code))
    if cabinet is None:
        raise NotFound(f"no cabinet {code!r}", code="no_cabinet", cabinet=code)
    return cabinet


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


def config_payload(db: Session, cabinet: Cabinet, settings: CabinetSettings | None = None) -> Config:
    """The retained `config` for a cabinet (unsigned): its planogram, linted as the gateway lints it."""
    plan = planogram(db, cabinet)
    check_planogram(plan)
    return Config(
        version=max(1, cabinet.config_version),
        cabinet_id=cabinet.code,
        planogram=plan,
        settings=settings or CabinetSettings(),
    )


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
    return _upsert(db, Product, "sku", {k: p[k] for k in fields if k in p})  # type: ignore[no-any-return]


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
