"""The FastAPI application: routers, static files, error handlers."""

from __future__ import annotations

from fastapi import FastAPI
from fastapi.staticfiles import StaticFiles

from cloud.api import errors
from cloud.api.routes import auth, cabinets, health, restock, sessions
from cloud.context import CloudContext
from cloud.web import pages
from cloud.web.pages import HERE


def create_app(context: CloudContext) -> FastAPI:
    app = FastAPI(title="vendfleet cloud", version="0.1.0")
    app.state.context = context
    for module in (health, auth, cabinets, sessions, restock, pages):
        app.include_router(module.router)
    app.mount("/static", StaticFiles(directory=HERE / "static"), name="static")
    errors.install(app)
    return app
