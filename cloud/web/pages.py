"""Server-rendered pages (public shells: their scripts fetch the data from /api/v1 with a token).

Each page gets its texts, the product and store names in its language (names are not secrets: the
resident page shows them to anyone), and the map's tile URL (empty: no base map, offline)."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Header, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.api.deps import ContextDep, SessionDep
from cloud.api.errors import documented
from cloud.api.types import CabinetCode, RowId
from cloud.context import CloudContext
from cloud.db.models import Cabinet, Product, Store
from cloud.domain.cabinet_settings import effective_settings
from cloud.domain.fleet import cabinet_by_code
from cloud.web.i18n import TEXTS, local_name, pick_language

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(tags=["pages"])


def _names(db: Session, language: str) -> dict[str, Any]:
    en = language == "en"
    catalog = list(db.scalars(select(Product)))
    products = {p.sku: p.name_en if en else p.name_zh for p in catalog}
    stores = {s.id: s.name_en if en else s.name_zh for s in db.scalars(select(Store))}
    return {"products": products, "chilled": [p.sku for p in catalog if p.chilled], "stores": stores}


@dataclass(frozen=True)
class Page:
    """What every page is rendered with: the request, its transaction, the cloud, the language."""

    request: Request
    db: Session
    context: CloudContext
    language: str

    def render(self, template: str, **values: Any) -> HTMLResponse:
        other = "en" if self.language == "zh-CN" else "zh-CN"
        settings = self.context.settings
        code = values.get("code") or getattr(values.get("cabinet"), "code", None)
        max_c = _chilled_limit(self.db, settings, code)
        data = {**_names(self.db, self.language), "tiles": settings.map_tile_url, "max_c": max_c}
        page = {"lang": self.language, "t": TEXTS[self.language], "other": other, "data": data, **values}
        return templates.TemplateResponse(self.request, template, page)


def page(
    request: Request,
    db: SessionDep,
    context: ContextDep,
    lang: str | None = None,
    accept_language: str | None = Header(None),
) -> Page:
    """?lang= first, then the browser's Accept-Language."""
    return Page(request, db, context, pick_language(lang, accept_language))


PageDep = Annotated[Page, Depends(page)]


def _chilled_limit(db: Session, settings: Any, code: str | None) -> float:
    """The limit line on a cabinet's temperature chart: its own setting, else the fleet's."""
    cabinet = db.scalar(select(Cabinet).where(Cabinet.code == code)) if code else None
    return (effective_settings(db, cabinet) if cabinet else settings.fleet).chilled_max_c


templates.env.filters["local"] = local_name


@router.get("/c/{code}", response_class=HTMLResponse, responses=documented(404, 422))
def resident_page(code: CabinetCode, page: PageDep) -> HTMLResponse:
    """The page the cabinet's QR code opens."""
    cabinet = cabinet_by_code(page.db, code)
    return page.render("resident.html", cabinet=cabinet, dev_otp=page.context.settings.dev_show_otp)


@router.get("/s/{code}", response_class=HTMLResponse, responses=documented(404, 422))
def staff_page(code: CabinetCode, page: PageDep) -> HTMLResponse:
    """Restock staff at a cabinet: the load list, open in restock mode, confirm the counts."""
    return page.render("staff.html", cabinet=cabinet_by_code(page.db, code))


@router.get("/staff/stores/{store_id}/picklist", response_class=HTMLResponse, responses=documented(422))
def picklist_page(store_id: RowId, page: PageDep) -> HTMLResponse:
    """The printable pick list with its route map."""
    return page.render("picklist.html", store_id=store_id)


@router.get("/ops/settings", response_class=HTMLResponse, responses=documented(422))
def settings_page(page: PageDep) -> HTMLResponse:
    """Ops: the fleet's default settings, and each store's and cabinet's overrides."""
    return page.render("settings.html")


@router.get("/ops", response_class=HTMLResponse, responses=documented(422))
@router.get("/ops/{view}", response_class=HTMLResponse, responses=documented(422))
@router.get("/ops/cabinets/{code}", response_class=HTMLResponse, responses=documented(422))
def ops_page(page: PageDep, view: str = "fleet", code: str | None = None) -> HTMLResponse:
    """Ops: the fleet map and table, a cabinet's charts, alarms, the review queue (live)."""
    views = ("fleet", "alarms", "reviews", "disputes", "cold_chain")
    view = "cabinet" if code else view if view in views else "fleet"
    return page.render("ops.html", view=view, code=code or "")
