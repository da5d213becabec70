"""End to end for ops: a forced door and a killed gateway show up on the ops pages, live."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud.db.models import User
from cloud.runtime import CloudRuntime
from tests.e2e.test_pages_zh import CHARTED
from tests.harness import gateway_process, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]


def test_alarms_and_offline_on_the_ops_pages(
    cloud_runtime: CloudRuntime, page: Any, tmp_path: Path, gateway_keys: Path
) -> None:
    context = cloud_runtime.context
    assert context is not None
    with context.factory() as db:
        ops = db.scalar(select(User).where(User.name == "ops"))
        assert ops is not None
        headers = {"Authorization": f"Bearer {context.tokens.issue(ops.id)}"}
    fast_will = {"VF_MQTT_KEEPALIVE_S": "2"}
    with (
        httpx.Client(base_url=cloud_runtime.url, timeout=10, headers=headers) as api,
        sim_cabinet("chilled-4shelf", seed=41) as sim,
        gateway_process(
            "XH-0001", sim.serial, cloud_runtime.mqtt_url, tmp_path / "gw", gateway_keys, None, fast_will
        ) as gw,
    ):
        wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 15, "the cabinet online")
        wait_until(
            lambda: api.get("/api/v1/cabinets/XH-0001/telemetry").json()["minutes"], 20, "temperatures"
        )
        sim.post("/doors/0/open", {"force": True})
        wait_until(
            lambda: [a for a in api.get("/api/v1/alarms?state=open").json() if a["kind"] == "forced_open"],
            15,
            "the forced_open alarm",
        )

        page.goto(f"{cloud_runtime.url}/ops/alarms?lang=en")
        page.fill("#username", "ops")
        page.fill("#password", "ops-demo")
        page.click("#login")
        page.wait_for_selector("button.ack:not([disabled])")
        page.click("button.ack:not([disabled])")
        wait_until(
            lambda: api.get("/api/v1/alarms?state=open").json()[0]["state"] == "acknowledged", 10, "the ack"
        )

        page.goto(f"{cloud_runtime.url}/ops/cabinets/XH-0001")
        page.wait_for_function(CHARTED, arg="#chart")  # a point per minute: drawn from the first one
        page.screenshot(path=str(tmp_path / "cabinet.png"), full_page=True)

        page.goto(f"{cloud_runtime.url}/ops")
        page.wait_for_selector(".cabinet-dot.cabinet-XH-0001")
        gw.kill()  # the broker publishes the gateway's last will
        page.wait_for_selector(".cabinet-dot.cabinet-XH-0001.state-offline", timeout=20_000)
        page.screenshot(path=str(tmp_path / "fleet.png"), full_page=True)
        kinds = {a["kind"] for a in api.get("/api/v1/alarms?state=open").json()}
        assert {"offline", "forced_open"} <= kinds
        metrics = api.get("/metrics").text
        assert "vendfleet_alarms_open" in metrics
