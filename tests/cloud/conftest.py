from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import yaml
from sqlalchemy.orm import Session, sessionmaker

import cloud
from cloud.commands import CloudKeys, CommandSigner
from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.migrate import upgrade
from cloud.domain.fleet import seed

DEMO = yaml.safe_load((Path(cloud.__file__).parent / "fixtures" / "demo.yaml").read_text())


@pytest.fixture
def factory(db_url: str) -> Iterator[sessionmaker[Session]]:
    """The demo fleet, seeded through the migrations, on SQLite and on PostgreSQL."""
    upgrade(db_url)
    engine = make_engine(db_url)
    made = session_factory(engine)
    with transaction(made) as db:
        seed(db, DEMO)
    yield made
    engine.dispose()


@pytest.fixture(scope="session")
def cloud_keys(tmp_path_factory: pytest.TempPathFactory) -> CloudKeys:
    return CloudKeys.load_or_create(tmp_path_factory.mktemp("cloud-keys"))


@pytest.fixture
def signer(cloud_keys: CloudKeys) -> CommandSigner:
    return CommandSigner(cloud_keys.private, timedelta(seconds=60))
