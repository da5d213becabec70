"""Shared fixtures: real servers started once per session on free ports in temp dirs, always cleaned up.

The servers themselves live in firmware_sim/demo/servers.py: the chaos demo starts them too.
"""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING, Any

import pytest

from firmware_sim.demo.servers import (
    MosquittoFactory,
    MosquittoServer,
    PostgresServer,
    VictoriaMetricsServer,
    launch_chromium,
)

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Page


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoServer]:
    """The shared broker; a test may stop() and restart() it, and must leave it running."""
    with MosquittoServer() as server:
        yield server


@pytest.fixture
def mosquitto_factory() -> Iterator[MosquittoFactory]:
    """Start a private broker with extra config lines (`{dir}` is its temp dir) and files in that dir."""
    started: list[MosquittoServer] = []

    def start(extra_conf: str = "", files: dict[str, str] | None = None) -> MosquittoServer:
        server = MosquittoServer(extra_conf, files)
        started.append(server)  # before start(), so that a failed start is cleaned up too
        return server.start()

    yield start
    for server in started:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    with PostgresServer() as server:
        yield server


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """The SQLAlchemy URL of a fresh, empty database for one test; dropped afterwards."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every data-layer test runs on the embedded default (SQLite) and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def victoria() -> Iterator[VictoriaMetricsServer]:
    with VictoriaMetricsServer() as server:
        yield server


@pytest.fixture(scope="session")
def browser() -> Iterator[Browser]:
    # Imported here so that tests without a browser do not need Playwright.
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = launch_chromium(p)
        try:
            yield chromium
        finally:
            chromium.close()


# A phone-sized window, as residents and restockers use the web app on phones.
PHONE_CONTEXT: dict[str, Any] = {"viewport": {"width": 390, "height": 844}, "locale": "zh-CN"}


@pytest.fixture
def page(request: pytest.FixtureRequest, browser: Browser) -> Iterator[Page]:
    """A page in a fresh phone-sized context; override context options with
    `@pytest.mark.parametrize("page", [{"viewport": {...}}], indirect=True)`."""
    options = {**PHONE_CONTEXT, **getattr(request, "param", {})}
    context = browser.new_context(**options)
    try:
        yield context.new_page()
    finally:
        context.close()
