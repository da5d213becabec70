"""Cabinets: the list (ops and staff), public stock and QR codes, the signing key."""

from __future__ import annotations

from fastapi import APIRouter, Response

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import CabinetCode
from cloud.usecases import cabinets
from cloud.usecases.cabinets import CabinetView, LaneView

router = APIRouter(prefix="/api/v1", tags=["cabinets"])


class SvgResponse(Response):
    media_type = "image/svg+xml"


class PemResponse(Response):
    media_type = "application/x-pem-file"


@router.get("/cabinets", responses=documented(401, 403))
def list_cabinets(context: ContextDep, user: DetachedUser) -> list[CabinetView]:
    """Every cabinet the caller may see (ops and staff: their store; admin: all)."""
    return cabinets.visible(context, user)


@router.get("/cabinets/{code}", responses=documented(404, 422))
def get_cabinet(code: CabinetCode, context: ContextDep) -> CabinetView:
    return cabinets.show(context, code)


@router.get("/cabinets/{code}/stock", responses=documented(404, 422))
def get_stock(code: CabinetCode, context: ContextDep) -> list[LaneView]:
    """What is in the cabinet, lane by lane, from the ledger (public: residents see it)."""
    return cabinets.stock(context, code)


@router.get("/cabinets/{code}/qr.svg", response_class=SvgResponse, responses=documented(404, 422))
def qr_code(code: CabinetCode, context: ContextDep) -> SvgResponse:
    """The QR to print on the cabinet: it opens the resident page."""
    return SvgResponse(cabinets.qr_svg(context, code))


@router.get("/keys/commands", response_class=PemResponse)
def command_key(context: ContextDep) -> PemResponse:
    """The cloud's Ed25519 public key (PEM): gateways verify every command with it."""
    return PemResponse(context.keys.public_pem)
