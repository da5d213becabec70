from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from cloud.runtime import CloudRuntime
from cloud.settings import CloudSettings
from tests.servers import MosquittoServer


def start_cloud(pg_url: str, mosquitto: MosquittoServer, tmp_path: Path, **settings: Any) -> CloudRuntime:
    """The whole cloud in this process, on PostgreSQL and the real Mosquitto, seeded with the demo."""
    import yaml

    import cloud
    from cloud.db.engine import make_engine, session_factory, transaction
    from cloud.db.migrate import upgrade
    from cloud.domain.fleet import seed

    upgrade(pg_url)
    engine = make_engine(pg_url)
    demo = yaml.safe_load((Path(cloud.__file__).parent / "fixtures" / "demo.yaml").read_text())
    with transaction(session_factory(engine)) as db:
        seed(db, demo)
    engine.dispose()
    defaults = {"db": pg_url, "mqtt": mosquitto.url, "port": 0, "key_dir": tmp_path / "cloud-keys"}
    return CloudRuntime(CloudSettings(**(defaults | settings))).start()


@pytest.fixture
def cloud_runtime(pg_url: str, mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[CloudRuntime]:
    runtime = start_cloud(pg_url, mosquitto, tmp_path)
    yield runtime
    runtime.stop()


@pytest.fixture
def gateway_keys(cloud_runtime: CloudRuntime, tmp_path: Path) -> Path:
    """A key dir holding the cloud's public key, as a provisioned gateway has it."""
    assert cloud_runtime.context is not None
    keys = tmp_path / "gateway-keys"
    keys.mkdir()
    (keys / "public.pem").write_bytes(cloud_runtime.context.keys.public_pem)
    return keys
