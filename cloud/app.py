"""The FastAPI application: routers, static files, error handlers, offline API docs, /metrics."""

from __future__ import annotations

from fastapi import Depends, FastAPI, Response
from fastapi.openapi.docs import get_swagger_ui_html, get_swagger_ui_oauth2_redirect_html
from fastapi.responses import HTMLResponse
from fastapi.staticfiles import StaticFiles
from prometheus_client import CONTENT_TYPE_LATEST, generate_latest
from sqlalchemy import func, select

from cloud import metrics
from cloud.api import errors
from cloud.api.bodies import StrictJsonBodies
from cloud.api.deps import known_query_only
from cloud.api.routes import (
    auth,
    cabinets,
    cold_chain,
    disputes,
    health,
    ops,
    restock,
    sessions,
    settings,
    topup,
)
from cloud.context import CloudContext
from cloud.db.models import Alarm
from cloud.web import pages
from cloud.web.pages import HERE

VENDOR = "/static/vendor"
FAVICON = f"{VENDOR}/swagger-ui/favicon-32x32.png"


def create_app(context: CloudContext) -> FastAPI:
    # The docs page is ours: FastAPI's default loads Swagger UI from a CDN (blank offline). No ReDoc: its
    # bundle fetches a logo from its CDN whatever the options.
    app = FastAPI(title="vendfleet cloud", version="0.1.0", docs_url=None, redoc_url=None)
    app.state.context = context
    api = (health, auth, cabinets, sessions, disputes, cold_chain, restock, ops, settings, topup)
    for module in api:
        app.include_router(module.router, dependencies=[Depends(known_query_only)])
    app.include_router(pages.router)  # pages keep their own query (the ops filters live in the URL)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app)
    app.add_middleware(StrictJsonBodies)
    _docs(app)
    metrics.ALARMS_OPEN.set_function(lambda: _open_alarms(context))
    return app


def _docs(app: FastAPI) -> None:
    title = app.title

    @app.get("/docs", include_in_schema=False)
    def swagger() -> HTMLResponse:
        return get_swagger_ui_html(
            openapi_url="/openapi.json",
            title=title,
            swagger_js_url=f"{VENDOR}/swagger-ui/swagger-ui-bundle.js",
            swagger_css_url=f"{VENDOR}/swagger-ui/swagger-ui.css",
            swagger_favicon_url=FAVICON,
            oauth2_redirect_url="/docs/oauth2-redirect",
        )

    @app.get("/docs/oauth2-redirect", include_in_schema=False)
    def oauth2_redirect() -> HTMLResponse:
        return get_swagger_ui_oauth2_redirect_html()

    @app.get("/metrics", include_in_schema=False)
    def prometheus() -> Response:
        # A route, not a mounted app: a mount answers /metrics with a 307 to /metrics/.
        return Response(generate_latest(), media_type=CONTENT_TYPE_LATEST)


def _open_alarms(context: CloudContext) -> float:
    with context.factory() as db:
        return float(db.scalar(select(func.count()).select_from(Alarm).where(Alarm.state != "resolved")) or 0)
