"""Shared fixtures: real servers started once per session on free ports, and cleaned up."""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from tests.servers import (
    CHROMIUM_ARGS,
    MosquittoServer,
    PostgresServer,
    VictoriaMetricsServer,
    chromium_path,
)


@pytest.fixture(scope="session")
def mosquitto() -> Iterator[MosquittoServer]:
    server = MosquittoServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def mosquitto_factory() -> Iterator[Callable[..., MosquittoServer]]:
    """Start a broker with extra config lines (`{dir}` is its temp dir) and files in that dir."""
    started: list[MosquittoServer] = []

    def start(extra_conf: str = "", files: dict[str, str] | None = None) -> MosquittoServer:
        server = MosquittoServer(extra_conf, files).start()
        started.append(server)
        return server

    yield start
    for server in started:
        server.cleanup()


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    server = PostgresServer().start()
    yield server
    server.cleanup()


@pytest.fixture
def pg_url(postgres: PostgresServer) -> Iterator[str]:
    """A fresh, empty database for one test."""
    name = f"t_{uuid.uuid4().hex[:12]}"
    url = postgres.create_database(name)
    yield url
    postgres.drop_database(name)


@pytest.fixture(params=["sqlite", pytest.param("postgres", marks=pytest.mark.postgres)])
def db_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    """Every data-layer test runs on the embedded default and on PostgreSQL."""
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'test.db'}"
    return str(request.getfixturevalue("pg_url"))


@pytest.fixture(scope="session")
def victoria() -> Iterator[VictoriaMetricsServer]:
    server = VictoriaMetricsServer().start()
    yield server
    server.cleanup()


@pytest.fixture(scope="session")
def browser() -> Iterator[object]:
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()


@pytest.fixture
def page(browser: object) -> Iterator[object]:
    context = browser.new_context(viewport={"width": 390, "height": 844}, locale="zh-CN")  # type: ignore[attr-defined]
    page = context.new_page()
    yield page
    context.close()
