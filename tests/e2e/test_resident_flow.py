"""End to end: a resident in Chromium, the cloud on PostgreSQL, Mosquitto, a gateway, a simulated cabinet."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from cloud.runtime import CloudRuntime
from tests.e2e.conftest import resident_signs_in
from tests.harness import gateway_process, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]
PHONE = "13800138000"


def ledger_equals_truth(api: httpx.Client, code: str, truth: dict[str, Any]) -> None:
    ledger = {(s["channel"], s["lane"]): s["count"] for s in api.get(f"/api/v1/cabinets/{code}/stock").json()}
    physical = {(c["channel"], lane["lane"]): lane["count"] for c in truth["channels"] for lane in c["lanes"]}
    assert ledger == physical


def test_resident_opens_takes_and_is_charged_once(
    cloud_runtime: CloudRuntime, page: Any, tmp_path: Path, gateway_keys: Path
) -> None:
    with (
        httpx.Client(base_url=cloud_runtime.url, timeout=10) as api,
        sim_cabinet("chilled-4shelf", seed=21) as sim,
        gateway_process("XH-0001", sim.serial, cloud_runtime.mqtt_url, tmp_path / "gw", gateway_keys, None),
    ):
        # The gateway gets its planogram from the cloud's retained config, nothing local.
        wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 15, "the cabinet online")
        ledger_equals_truth(api, "XH-0001", sim.state())

        resident_signs_in(page, cloud_runtime, PHONE)
        assert page.text_content("#balance") == "¥200.00"
        page.click("#open")

        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 10, "the door to unlock")
        page.wait_for_function("document.querySelector('#status').textContent.includes('门已打开')")
        assert sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 2}).status_code == 200
        assert sim.post("/take", {"channel": 0, "sku": "bright-milk-200", "count": 1}).status_code == 200
        assert sim.post("/doors/0/close").status_code == 200

        page.wait_for_selector("#receipt:not([hidden])", timeout=20_000)
        assert page.text_content("#amount") == "¥11.50"
        page.screenshot(path=str(tmp_path / "resident.png"), full_page=True)
        wait_until(lambda: page.text_content("#balance") == "¥188.50", 5, "the new balance")
        ledger_equals_truth(api, "XH-0001", sim.state())
