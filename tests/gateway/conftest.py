from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from firmware_sim.demo.servers import MosquittoServer
from protocols.signing import KeyPair
from tests.harness import StandInCloud, write_keys


@pytest.fixture(scope="session")
def keys_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("keys")


@pytest.fixture(scope="session")
def keys(keys_dir: Path) -> KeyPair:
    return write_keys(keys_dir)


@pytest.fixture
def cloud(mosquitto: MosquittoServer) -> Iterator[StandInCloud]:
    stand_in = StandInCloud(mosquitto.port)
    yield stand_in
    stand_in.close()
