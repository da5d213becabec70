from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud.db.models import User
from cloud.runtime import CloudRuntime
from cloud.settings import CloudSettings
from firmware_sim.demo.run import FIXTURE as DEMO_FLEET
from firmware_sim.demo.servers import MosquittoServer
from tests.harness import GatewayProcess, gateway_process, wait_until
from tests.sim_fixture import sim_cabinet


def start_cloud(db_url: str, mosquitto: MosquittoServer, tmp_path: Path, **settings: Any) -> CloudRuntime:
    """The whole cloud in this process, on `db_url` and the real Mosquitto, seeded with the demo."""
    import yaml

    from cloud.db.engine import make_engine, session_factory, transaction
    from cloud.db.migrate import upgrade
    from cloud.domain.fleet import seed

    upgrade(db_url)
    engine = make_engine(db_url)
    demo = yaml.safe_load(DEMO_FLEET.read_text())
    with transaction(session_factory(engine)) as db:
        seed(db, demo)
    engine.dispose()
    defaults = {"db": db_url, "mqtt": mosquitto.url, "port": 0, "key_dir": tmp_path / "cloud-keys"}
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


@dataclass
class Fleet:
    """One cloud, one gateway process and its simulated cabinet, online."""

    runtime: CloudRuntime
    sim: Any
    api: httpx.Client
    gateway: GatewayProcess

    def bearer(self, name: str) -> dict[str, str]:
        assert self.runtime.context is not None
        with self.runtime.context.factory() as db:
            user = db.scalar(select(User).where(User.name == name))
            assert user is not None
            return {"Authorization": f"Bearer {self.runtime.context.tokens.issue(user.id)}"}


@contextmanager
def running_fleet(
    db_url: str,
    mosquitto: MosquittoServer,
    tmp_path: Path,
    layout: str = "chilled-4shelf",
    speed: float = 1.0,  # the simulated cabinet's clock (its physics: warming, cooling) runs this fast
    **settings: Any,
) -> Iterator[Fleet]:
    runtime = start_cloud(db_url, mosquitto, tmp_path, **settings)
    assert runtime.context is not None
    keys = tmp_path / "gateway-keys"
    keys.mkdir(exist_ok=True)
    (keys / "public.pem").write_bytes(runtime.context.keys.public_pem)
    try:
        with (
            httpx.Client(base_url=runtime.url, timeout=10) as api,
            sim_cabinet(layout, seed=5, speed=speed) as sim,
            gateway_process("XH-0001", sim.serial, runtime.mqtt_url, tmp_path / "gw", keys, None) as gateway,
        ):
            wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 20, "the cabinet online")
            yield Fleet(runtime, sim, api, gateway)
    finally:
        runtime.stop()


def resident_signs_in(page: Any, runtime: CloudRuntime, phone: str, cabinet: str = "XH-0001") -> None:
    """The resident page of `cabinet`, signed in with the SMS code the embedded sender logged."""
    from cloud.domain.auth import LogSender

    assert runtime.context is not None
    page.goto(f"{runtime.url}/c/{cabinet}")
    page.fill("#phone", phone)
    page.click("#send-code")
    sender = runtime.context.otp_sender
    assert isinstance(sender, LogSender)
    wait_until(lambda: phone in sender.sent, 5, "the SMS")
    page.fill("#code", sender.sent[phone])
    page.click("#sign-in")
    page.wait_for_selector("#account:not([hidden])")
