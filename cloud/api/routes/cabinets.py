"""Cabinets: the fleet list (ops), public stock and QR codes, the signing key."""

from __future__ import annotations

import io
from typing import Any

import segno
from fastapi import APIRouter, Response
from sqlalchemy import select

from cloud.api.deps import ContextDep, CurrentUser, SessionDep
from cloud.api.errors import documented
from cloud.api.types import CabinetCode
from cloud.db.models import Cabinet, Product
from cloud.domain import ledger
from cloud.domain.auth import require_role
from cloud.domain.fleet import cabinet_by_code

router = APIRouter(prefix="/api/v1", tags=["cabinets"])


class SvgResponse(Response):
    media_type = "image/svg+xml"


class PemResponse(Response):
    media_type = "application/x-pem-file"


def cabinet_view(cabinet: Cabinet) -> dict[str, Any]:
    return {
        "id": cabinet.id,
        "code": cabinet.code,
        "name": cabinet.name,
        "store_id": cabinet.store_id,
        "layout": cabinet.layout,
        "online": cabinet.online,
        "state": cabinet.state,
        "lat": cabinet.lat,
        "lon": cabinet.lon,
        "last_seen": cabinet.last_seen.isoformat() if cabinet.last_seen else None,
        # Config drift: the version the cloud signed last, and the one the gateway reports running.
        "config_version": cabinet.config_version,
        "config_applied": cabinet.config_applied,
    }


@router.get("/cabinets", responses=documented(401, 403))
def list_cabinets(db: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """Every cabinet the caller may see (ops and staff: their store; admin: all)."""
    require_role(user, "ops", "staff")
    query = select(Cabinet).order_by(Cabinet.code)
    if user.role != "admin" and user.store_id is not None:
        query = query.where(Cabinet.store_id == user.store_id)
    return [cabinet_view(c) for c in db.scalars(query)]


@router.get("/cabinets/{code}", responses=documented(404, 422))
def get_cabinet(code: CabinetCode, db: SessionDep) -> dict[str, Any]:
    return cabinet_view(cabinet_by_code(db, code))


@router.get("/cabinets/{code}/stock", responses=documented(404, 422))
def get_stock(code: CabinetCode, db: SessionDep) -> list[dict[str, Any]]:
    """What is in the cabinet, lane by lane, from the ledger (public: residents see it)."""
    cabinet = cabinet_by_code(db, code)
    lanes = ledger.stock(db, cabinet.id)
    products = {p.sku: p for p in db.scalars(select(Product).where(Product.sku.in_({s.sku for s in lanes})))}
    return [
        {
            "channel": s.channel,
            "lane": s.lane,
            "sku": s.sku,
            "count": s.count,
            "name_zh": products[s.sku].name_zh,
            "name_en": products[s.sku].name_en,
            "price_fen": products[s.sku].price_fen,
        }
        for s in lanes
    ]


@router.get("/cabinets/{code}/qr.svg", response_class=SvgResponse, responses=documented(404, 422))
def qr_code(code: CabinetCode, db: SessionDep, context: ContextDep) -> SvgResponse:
    """The QR to print on the cabinet: it opens the resident page."""
    cabinet = cabinet_by_code(db, code)
    out = io.BytesIO()
    segno.make(f"{context.settings.public_url}/c/{cabinet.code}", error="m").save(out, kind="svg", scale=8)
    return SvgResponse(out.getvalue())


@router.get("/keys/commands", response_class=PemResponse)
def command_key(context: ContextDep) -> PemResponse:
    """The cloud's Ed25519 public key (PEM): gateways verify every command with it."""
    return PemResponse(context.keys.public_pem)
