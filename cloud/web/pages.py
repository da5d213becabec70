"""Server-rendered pages; their scripts talk to /api/v1 like any other client."""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, Header, Request
from fastapi.responses import HTMLResponse
from fastapi.templating import Jinja2Templates

from cloud.api.deps import ContextDep, SessionDep
from cloud.domain.fleet import cabinet_by_code
from cloud.web.i18n import TEXTS, pick_language

HERE = Path(__file__).parent
templates = Jinja2Templates(directory=HERE / "templates")
router = APIRouter(include_in_schema=False)


@router.get("/c/{code}", response_class=HTMLResponse)
def resident_page(
    code: str, request: Request, db: SessionDep, context: ContextDep,
    lang: str | None = None, accept_language: str | None = Header(None),
) -> HTMLResponse:  # fmt: skip
    """The page the cabinet's QR code opens."""
    cabinet = cabinet_by_code(db, code)
    language = pick_language(lang, accept_language)
    return templates.TemplateResponse(
        request,
        "resident.html",
        {
            "cabinet": cabinet, "lang": language, "t": TEXTS[language],
            "other": "en" if language == "zh-CN" else "zh-CN",
            "dev_otp": context.settings.dev_show_otp,
        },
    )  # fmt: skip
