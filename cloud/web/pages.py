"""Server-rendered pages (public shells: their scripts fetch the data from /api/v1 with a token)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cloud.api.deps import ContextDep, SessionDep
from cloud.api.errors import documented
from cloud.api.types import CabinetCode, RowId
from cloud.domain.fleet import cabinet_by_code
from cloud.web.i18n import TEXTS, pick_language

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(tags=["pages"])


def _page(
    request: Request, template: str, lang: str | None, accept: str | None, **values: Any
) -> HTMLResponse:
    language = pick_language(lang, accept)
    other = "en" if language == "zh-CN" else "zh-CN"
    page = {"lang": language, "t": TEXTS[language], "other": other, **values}
    return templates.TemplateResponse(request, template, page)


@router.get("/c/{code}", response_class=HTMLResponse, responses=documented(404, 422))
def resident_page(
    code: CabinetCode,
    request: Request,
    db: SessionDep,
    context: ContextDep,
    lang: str | None = None,
    accept_language: str | None = Header(None),
) -> HTMLResponse:
    """The page the cabinet's QR code opens."""
    cabinet = cabinet_by_code(db, code)
    return _page(
        request,
        "resident.html",
        lang,
        accept_language,
        cabinet=cabinet,
        dev_otp=context.settings.dev_show_otp,
    )


@router.get("/s/{code}", response_class=HTMLResponse, responses=documented(404, 422))
def staff_page(
    code: CabinetCode,
    request: Request,
    db: SessionDep,
    lang: str | None = None,
    accept_language: str | None = Header(None),
) -> HTMLResponse:
    """Restock staff at a cabinet: the load list, open in restock mode, confirm the counts."""
    return _page(request, "staff.html", lang, accept_language, cabinet=cabinet_by_code(db, code))


@router.get("/staff/stores/{store_id}/picklist", response_class=HTMLResponse, responses=documented(422))
def picklist_page(
    store_id: RowId, request: Request, lang: str | None = None, accept_language: str | None = Header(None)
) -> HTMLResponse:
    """The printable pick list with its route map."""
    return _page(request, "picklist.html", lang, accept_language, store_id=store_id)


@router.get("/ops/settings", response_class=HTMLResponse, responses=documented(422))
def settings_page(
    request: Request, lang: str | None = None, accept_language: str | None = Header(None)
) -> HTMLResponse:
    """Ops: the fleet's default settings, and each store's and cabinet's overrides."""
    return _page(request, "settings.html", lang, accept_language)


@router.get("/ops", response_class=HTMLResponse, responses=documented(422))
@router.get("/ops/{view}", response_class=HTMLResponse, responses=documented(422))
@router.get("/ops/cabinets/{code}", response_class=HTMLResponse, responses=documented(422))
def ops_page(
    request: Request,
    view: str = "fleet",
    code: str | None = None,
    lang: str | None = None,
    accept_language: str | None = Header(None),
) -> HTMLResponse:
    """Ops: the fleet map and table, a cabinet's charts, alarms, the review queue (live)."""
    return _page(
        request, "ops.html", lang, accept_language, view="cabinet" if code else view, code=code or ""
    )
