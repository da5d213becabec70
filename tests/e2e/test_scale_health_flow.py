"""End to end: a load cell drifts (simulator at speed) → the gateway raises scale_drift with its g/h →
the cloud puts a recalibration task on the staff page → staff tare it → the readings after it are
healthy, the alarm resolves and the task is done; the ops cabinet page shows each scale's health."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.runtime import CloudRuntime
from tests.e2e.test_pages_zh import CHARTED
from tests.e2e.test_restock_flow import bearer
from tests.gateway.test_scale_health_e2e import FAST_HEALTH
from tests.harness import gateway_process, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]

SPEED = 10.0
DRIFT_G_PER_H = 360.0  # simulated time: 3,600 g/h on the gateway's clock


def scale_alarms(api: httpx.Client, headers: dict[str, str]) -> list[dict[str, Any]]:
    found = api.get("/api/v1/alarms", params={"cabinet": "XH-0001", "kind": "scale_drift"}, headers=headers)
    return list(found.json())


def test_a_drifting_scale_is_recalibrated_at_the_visit_and_healthy_again(
    cloud_runtime: CloudRuntime, page: Any, tmp_path: Path, gateway_keys: Path
) -> None:
    with (
        httpx.Client(base_url=cloud_runtime.url, timeout=10) as api,
        sim_cabinet("chilled-4shelf", seed=34, speed=SPEED, faults=f"drift=1:{DRIFT_G_PER_H}") as sim,
        gateway_process(
            "XH-0001", sim.serial, cloud_runtime.mqtt_url, tmp_path / "gw", gateway_keys, None, FAST_HEALTH
        ),
    ):
        ops = bearer(cloud_runtime, "ops")
        wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 30, "the cabinet online")
        wait_until(lambda: scale_alarms(api, ops), 90, "the scale_drift alarm")
        (alarm,) = scale_alarms(api, ops)
        assert alarm["params"]["channel"] == 1
        assert 0.7 * DRIFT_G_PER_H * SPEED < alarm["params"]["drift_g_per_h"] < 1.3 * DRIFT_G_PER_H * SPEED

        page.goto(f"{cloud_runtime.url}/ops/cabinets/XH-0001")
        page.fill("#username", "ops")
        page.fill("#password", "ops-demo")
        page.click("#login")
        page.wait_for_selector("#scales tr.scale-degrading")
        page.wait_for_function(CHARTED, arg="#scale-chart")
        assert "秤零点漂移" in page.text_content("#cabinet-alarms")
        page.screenshot(path=str(tmp_path / "ops-scales.png"), full_page=True)

        # The store's pick list (ops, signed in, may read it too) sends the restocker there for it.
        store_id = api.get("/api/v1/cabinets/XH-0001").json()["store_id"]
        page.goto(f"{cloud_runtime.url}/staff/stores/{store_id}/picklist")
        page.wait_for_selector(".recalibrate-task")
        assert "秤校准: 秤 1" in page.text_content("#stops")

        page.goto(f"{cloud_runtime.url}/s/XH-0001")
        page.fill("#username", "staff")
        page.fill("#password", "staff-demo")
        page.click("#login")
        page.wait_for_selector("#recalibrate:not([hidden]) .recal-due")
        assert "秤 1" in page.text_content("#recal-rows")
        page.click("#recal-rows button")
        page.wait_for_selector("#recal-rows .recal-tared")

        wait_until(lambda: scale_alarms(api, ops)[0]["state"] == "resolved", 90, "healthy again")
        page.wait_for_function("!document.querySelector('#recal-rows .recal-tared')", timeout=20_000)
        staff = bearer(cloud_runtime, "staff")
        assert api.get("/api/v1/cabinets/XH-0001/recalibrations", headers=staff).json() == []
