"""In Chromium (zh-CN), on PostgreSQL, with a real gateway and the simulated cabinet: a resident chooses the
true basket when the weights were not sure, then disputes the receipt; ops refund part of it on their page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from firmware_sim.demo.servers import MosquittoServer
from tests.e2e.conftest import resident_signs_in, running_fleet
from tests.e2e.test_money_and_stock import balance, unsure
from tests.harness import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]
PHONE = "13800138000"  # 王芳


def test_a_resident_chooses_then_disputes_and_ops_refund(
    pg_url: str, mosquitto: MosquittoServer, tmp_path: Path, browser: Any
) -> None:
    with running_fleet(pg_url, mosquitto, tmp_path) as fleet:
        unsure(fleet)
        before = balance(fleet, "王芳")
        resident = browser.new_page(viewport={"width": 390, "height": 844}, locale="zh-CN")
        resident_signs_in(resident, fleet.runtime, PHONE)
        resident.click("#open")
        wait_until(lambda: fleet.sim.post("/doors/0/open").status_code == 200, 10, "the door to unlock")
        assert fleet.sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 2}).status_code == 200
        assert fleet.sim.post("/doors/0/close").status_code == 200

        resident.wait_for_selector("#choose:not([hidden])", timeout=30_000)
        assert balance(fleet, "王芳") == before  # nothing charged until she says
        resident.locator("#offers button", has_text="罐装 × 2").first.click()
        resident.wait_for_selector("#receipt:not([hidden])", timeout=20_000)
        assert resident.text_content("#amount") == "¥7.00"

        resident.click("#dispute summary")
        resident.fill("#dispute-reason", "只拿了一罐")
        resident.click("#dispute-send")
        resident.wait_for_selector("#dispute-state:not([hidden])")
        assert "申诉已提交" in resident.text_content("#dispute-state")

        ops = browser.new_page(viewport={"width": 1440, "height": 900}, locale="zh-CN")
        ops.goto(f"{fleet.runtime.url}/ops/disputes")
        ops.fill("#username", "ops")
        ops.fill("#password", "ops-demo")
        ops.click("#login")
        ops.wait_for_selector("#dispute-table form")
        assert "只拿了一罐" in ops.text_content("#dispute-table")
        ops.fill("#dispute-table input[name=refund]", "3.50")
        ops.fill("#dispute-table input[name=note]", "称重记录显示两罐，善意退一罐")
        ops.click("#dispute-table button[value=refund]")
        ops.wait_for_selector("#no-disputes:not([hidden])", timeout=10_000)
        wait_until(lambda: balance(fleet, "王芳") == before - 700 + 350, 10, "the refund")
        resident.reload()
        ops.close()
        resident.close()
