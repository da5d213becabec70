"""Cabinets as people see them: the list for ops and staff, one cabinet and its stock (public: residents
see it before signing in), its QR code."""

from __future__ import annotations

import io
from datetime import datetime

import segno
from pydantic import BaseModel
from sqlalchemy import select

from cloud.context import CloudContext
from cloud.db.models import Cabinet, Product, User
from cloud.domain import cold_chain, ledger
from cloud.domain.auth import require_role
from cloud.domain.fleet import cabinet_by_code


class CabinetView(BaseModel):
    id: int
    code: str
    name: str
    store_id: int
    layout: str
    online: bool
    state: str
    lat: float
    lon: float
    last_seen: datetime | None
    # Config drift: the version the cloud signed last, and the one the gateway reports running.
    config_version: int
    config_applied: int | None

    @classmethod
    def of(cls, c: Cabinet) -> CabinetView:
        return cls.model_validate(c, from_attributes=True)


class LaneView(BaseModel):
    channel: int
    lane: int
    sku: str
    count: int
    name_zh: str
    name_en: str
    price_fen: int
    withheld: dict[str, object] | None = None  # why it is not for sale (the cold chain), if it is not


def visible(context: CloudContext, user: User) -> list[CabinetView]:
    """Every cabinet the caller may see (ops and staff: their store; admin: all)."""
    require_role(user, "ops", "staff")
    query = select(Cabinet).order_by(Cabinet.code)
    if user.role != "admin" and user.store_id is not None:
        query = query.where(Cabinet.store_id == user.store_id)
    with context.factory() as db:
        return [CabinetView.of(c) for c in db.scalars(query)]


def show(context: CloudContext, code: str) -> CabinetView:
    with context.factory() as db:
        return CabinetView.of(cabinet_by_code(db, code))


def stock(context: CloudContext, code: str) -> list[LaneView]:
    """What is in the cabinet, lane by lane, from the ledger."""
    with context.factory() as db:
        cabinet = cabinet_by_code(db, code)
        lanes = ledger.stock(db, cabinet.id)
        held = cold_chain.withheld(db, cabinet.id)
        skus = {s.sku for s in lanes}
        products = {p.sku: p for p in db.scalars(select(Product).where(Product.sku.in_(skus)))}
        return [
            LaneView(
                channel=s.channel,
                lane=s.lane,
                sku=s.sku,
                count=s.count,
                name_zh=products[s.sku].name_zh,
                name_en=products[s.sku].name_en,
                price_fen=products[s.sku].price_fen,
                withheld=cold_chain.reason(held[s.channel, s.lane]) if (s.channel, s.lane) in held else None,
            )
            for s in lanes
        ]


def qr_svg(context: CloudContext, code: str) -> bytes:
    """The QR to print on the cabinet: it opens the resident page."""
    with context.factory() as db:
        cabinet = cabinet_by_code(db, code)
    out = io.BytesIO()
    segno.make(f"{context.settings.public_url}/c/{cabinet.code}", error="m").save(out, kind="svg", scale=8)
    return out.getvalue()
