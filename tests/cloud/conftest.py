from __future__ import annotations

import shutil
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CloudKeys, CommandSigner
from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.migrate import upgrade
from cloud.dispatcher import Dispatcher
from cloud.domain.fleet import seed
from cloud.domain.payments import PrepaidBalance
from firmware_sim.demo.run import FIXTURE as DEMO_FLEET
from firmware_sim.demo.servers import PostgresServer

DEMO = yaml.safe_load(DEMO_FLEET.read_text())


def _migrate_and_seed(url: str) -> None:
    upgrade(url)
    engine = make_engine(url)
    with transaction(session_factory(engine)) as db:
        seed(db, DEMO)
    engine.dispose()  # a template must have no connection left (and SQLite its WAL checkpointed)


@pytest.fixture(scope="session")
def sqlite_template(tmp_path_factory: pytest.TempPathFactory) -> Path:
    path = tmp_path_factory.mktemp("template") / "seeded.db"
    _migrate_and_seed(f"sqlite:///{path}")
    return path


@pytest.fixture(scope="session")
def postgres_template(postgres: PostgresServer) -> str:
    name = "vf_seeded_template"
    _migrate_and_seed(postgres.create_database(name))
    return name


@pytest.fixture
def factory(db_url: str, request: pytest.FixtureRequest) -> Iterator[sessionmaker[Session]]:
    """The demo fleet, seeded through the migrations, on SQLite and on PostgreSQL.

    Migrated and seeded once per run (seeding hashes passwords: a second per test), then copied."""
    if db_url.startswith("sqlite"):
        shutil.copyfile(request.getfixturevalue("sqlite_template"), db_url.split("///", 1)[1])
    else:
        postgres: PostgresServer = request.getfixturevalue("postgres")
        name = make_url(db_url).database
        assert name
        postgres.drop_database(name)
        postgres.create_database(name, template=request.getfixturevalue("postgres_template"))
    engine = make_engine(db_url)
    yield session_factory(engine)
    engine.dispose()


@pytest.fixture(scope="session")
def cloud_keys(tmp_path_factory: pytest.TempPathFactory) -> CloudKeys:
    return CloudKeys.load(tmp_path_factory.mktemp("cloud-keys"), mint=True)


@pytest.fixture
def signer(cloud_keys: CloudKeys) -> CommandSigner:
    return CommandSigner(cloud_keys.private, timedelta(seconds=60))


def deliver_payments(factory: sessionmaker[Session]) -> None:
    """What the cloud's dispatcher does in the background: carry out queued captures and releases
    (there is no broker here: queued commands and configs just wait for their next attempt)."""
    Dispatcher(factory, None, PrepaidBalance()).deliver_due()
