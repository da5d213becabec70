"""The FastAPI application: routers, static files, error handlers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles
from prometheus_client import make_asgi_app
from sqlalchemy import func, select

from cloud import metrics
from cloud.api import errors
from cloud.api.bodies import StrictJsonBodies
from cloud.api.routes import auth, cabinets, disputes, health, ops, restock, sessions, settings
from cloud.context import CloudContext
from cloud.db.models import Alarm
from cloud.web import pages
from cloud.web.pages import HERE


def create_app(context: CloudContext) -> FastAPI:
    app = FastAPI(title="vendfleet cloud", version="0.1.0")
    app.state.context = context
    for module in (health, auth, cabinets, sessions, disputes, restock, ops, settings, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app)
    app.add_middleware(StrictJsonBodies)
    app.mount("/metrics", make_asgi_app())
    metrics.ALARMS_OPEN.set_function(lambda: _open_alarms(context))
    return app


def _open_alarms(context: CloudContext) -> float:
    with context.factory() as db:
        return float(db.scalar(select(func.count()).select_from(Alarm).where(Alarm.state != "resolved")) or 0)
