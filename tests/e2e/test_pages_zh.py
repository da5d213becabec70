"""Every page as its users see it in zh-CN: a resident whose basket goes to review and on to its final
amount, staff at the pick list, ops on every view. Any English left on a zh-CN page fails the test.

Screenshots go to $VF_SCREENSHOTS when it is set (`VF_SCREENSHOTS=deploy/screenshots` regenerates the
README's), else to the test's temporary directory.
"""

from __future__ import annotations

import os
import re
from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud.db.models import User
from cloud.runtime import CloudRuntime
from tests.e2e.conftest import resident_signs_in
from tests.e2e.page_walk import (
    CHARTED,
    FIND_FOREIGN,
    desktop,
    raise_every_other_kind,
    sign_in_staff,
    staff_pages,
)
from tests.harness import gateway_process, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]
PHONE = "13800138000"

# Latin that belongs on a zh-CN page: cabinet codes, session ids, units, the brand and the language switch.
ALLOWED = re.compile(r"^(vendfleet|English|CSV|[A-Z]{2}-\d{4}|[0-9a-f]{16}|\d+(ml|g)|°C|C|g)$")

TEN_THOUSAND = """() => {
  const started = performance.now();
  drawFleet(Array.from({ length: 10000 }, (_, i) => ({
    code: `T-${i}`, name: "", state: i % 50 ? "ok" : "offline",
    lat: 31.10 + (i % 100) * 0.001, lon: 121.35 + Math.floor(i / 100) * 0.001, temperature_c: null })));
  return performance.now() - started;
}"""


def english_on(page: Any) -> list[str]:
    return list(page.evaluate(FIND_FOREIGN, {"allowed": ALLOWED.pattern, "foreign": "[A-Za-z]"}))


def shots(tmp_path: Path) -> Path:
    folder = Path(os.environ.get("VF_SCREENSHOTS") or tmp_path)
    folder.mkdir(parents=True, exist_ok=True)
    return folder


def test_every_page_in_chinese(
    cloud_runtime: CloudRuntime, page: Any, browser: Any, tmp_path: Path, gateway_keys: Path
) -> None:
    context = cloud_runtime.context
    assert context is not None
    url = cloud_runtime.url
    out = shots(tmp_path)
    with context.factory() as db:
        ops = db.scalar(select(User).where(User.name == "ops"))
        assert ops is not None
        headers = {"Authorization": f"Bearer {context.tokens.issue(ops.id)}"}
    with (
        httpx.Client(base_url=url, timeout=10, headers=headers) as api,
        # Shelf 2's scale is dead: a basket from it cannot be weighed, so it goes to review.
        sim_cabinet("chilled-4shelf", seed=31, faults="dead_channel=2") as sim,
        gateway_process("XH-0001", sim.serial, cloud_runtime.mqtt_url, tmp_path / "gw", gateway_keys, None),
    ):
        wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 20, "the cabinet online")

        # The resident: the hold is explained, the review is followed to its final amount.
        resident_signs_in(page, cloud_runtime, PHONE)
        page.click("#open")
        page.wait_for_selector("#held:not([hidden])")
        assert "¥50.00" in page.text_content("#held")
        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 10, "the door to unlock")
        assert sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 1}).status_code == 200
        assert sim.post("/take", {"channel": 2, "sku": "tuna-onigiri", "count": 1}).status_code == 200
        assert sim.post("/doors/0/close").status_code == 200
        page.wait_for_function(
            "document.querySelector('#status').textContent.includes('人工核对')", timeout=30_000
        )
        assert english_on(page) == []
        (review,) = api.get("/api/v1/reviews").json()

        with desktop(browser) as ops_page:
            ops_page.goto(f"{url}/ops/reviews")
            sign_in_staff(ops_page, "ops", "ops-demo")
            ops_page.wait_for_function(CHARTED, arg="#review-table .weights")
            assert english_on(ops_page) == []

        taken = [
            {"channel": 1, "lane": 0, "sku": "coke-330", "delta": -1},
            {"channel": 2, "lane": 1, "sku": "tuna-onigiri", "delta": -1},
        ]
        resolved = api.post(f"/api/v1/sessions/{review['session_id']}/review", json={"lanes": taken})
        assert resolved.status_code == 200, resolved.text
        page.wait_for_selector("#receipt:not([hidden])", timeout=20_000)
        amount = resolved.json()["amount_fen"]
        assert amount > 0
        assert page.text_content("#amount") == f"¥{amount / 100:.2f}"
        assert page.text_content("#order") == review["session_id"]
        assert "已解冻" in page.text_content("#hold-note")
        assert "经人工核对" in page.text_content("#hold-note")
        # The receipt is the first thing on the page, clear of the fixed button.
        receipt, stock = page.locator("#receipt").bounding_box(), page.locator("#stock").bounding_box()
        footer = page.locator("footer").bounding_box()
        assert receipt["y"] < stock["y"]
        assert receipt["y"] + receipt["height"] < footer["y"]
        assert english_on(page) == []
        page.screenshot(path=str(out / "resident-receipt.png"), full_page=True)

        # A refusal, a wrong staff password, the cabinet's load list: worded in Chinese too.
        staff_pages(page, url, english_on)
        store_id = api.get("/api/v1/cabinets/XH-0001").json()["store_id"]

        sim.post("/doors/0/open", {"force": True})  # a forced door: an alarm from the gateway
        wait_until(lambda: api.get("/api/v1/alarms?kind=forced_open").json(), 15, "the forced_open alarm")
        raise_every_other_kind(cloud_runtime)
        wait_until(
            lambda: api.get("/api/v1/cabinets/XH-0001/telemetry").json()["minutes"], 60, "temperatures"
        )

        with desktop(browser) as ops_page:
            ops_page.goto(f"{url}/staff/stores/{store_id}/picklist")
            sign_in_staff(ops_page, "staff", "staff-demo")
            ops_page.wait_for_selector(".stop-marker")
            assert "可口可乐" in ops_page.text_content("#picking")
            assert english_on(ops_page) == []
            ops_page.screenshot(path=str(out / "staff-picklist.png"), full_page=True)

            ops_page.goto(f"{url}/ops")
            sign_in_staff(ops_page, "ops", "ops-demo")
            ops_page.wait_for_selector(".cabinet-dot.cabinet-XH-0001")
            ops_page.wait_for_selector(".map-legend")
            assert english_on(ops_page) == []
            ops_page.screenshot(path=str(out / "ops-fleet.png"), full_page=True)
            # A city's fleet: 10,000 markers cluster (a few hundred icons at most) in seconds.
            took_ms = ops_page.evaluate(TEN_THOUSAND)
            wait_until(lambda: 0 < ops_page.locator(".cabinet-cluster").count() < 500, 20, "clusters")
            assert took_ms < 10_000

            ops_page.goto(f"{url}/ops/cabinets/XH-0001")
            ops_page.wait_for_function(CHARTED, arg="#chart")  # probes, the limit, door shading
            ops_page.wait_for_function(CHARTED, arg="#sessions .weights")
            assert english_on(ops_page) == []
            ops_page.screenshot(path=str(out / "ops-cabinet.png"), full_page=True)

            ops_page.goto(f"{url}/ops/cabinets/XH-0002")  # ambient, and never connected here
            ops_page.wait_for_selector("#stock table")
            assert english_on(ops_page) == []

            ops_page.goto(f"{url}/ops/alarms")
            ops_page.wait_for_selector("#alarm-table tbody tr")
            assert ops_page.locator("#alarm-table thead th").count() == 6
            assert english_on(ops_page) == []
            ops_page.select_option("select[name=kind]", "board_fault")
            wait_until(lambda: ops_page.locator("#alarm-table tbody tr").count() == 3, 10, "the kind filter")
            ops_page.select_option("select[name=cabinet]", "XH-0005")
            wait_until(
                lambda: ops_page.locator("#alarm-table tbody tr").count() == 2, 10, "the cabinet filter"
            )
            assert english_on(ops_page) == []
