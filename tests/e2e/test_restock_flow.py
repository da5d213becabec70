"""End to end: a sale empties a lane, the pick list asks for it, staff restock it through their page."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest
from sqlalchemy import select

from cloud.db.models import User
from cloud.runtime import CloudRuntime
from tests.harness import gateway_process, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]


def bearer(runtime: CloudRuntime, name: str) -> dict[str, str]:
    assert runtime.context is not None
    with runtime.context.factory() as db:
        user = db.scalar(select(User).where(User.name == name))
        assert user is not None
        return {"Authorization": f"Bearer {runtime.context.tokens.issue(user.id)}"}


def stock(api: httpx.Client) -> dict[tuple[int, int], int]:
    return {(s["channel"], s["lane"]): s["count"] for s in api.get("/api/v1/cabinets/XH-0001/stock").json()}


def truth(sim: Any) -> dict[tuple[int, int], int]:
    return {
        (c["channel"], lane["lane"]): lane["count"] for c in sim.state()["channels"] for lane in c["lanes"]
    }


def test_staff_restock_through_the_page(
    cloud_runtime: CloudRuntime, page: Any, tmp_path: Path, gateway_keys: Path
) -> None:
    context = cloud_runtime.context
    assert context is not None
    with (
        httpx.Client(base_url=cloud_runtime.url, timeout=10) as api,
        sim_cabinet("chilled-4shelf", seed=31) as sim,
        gateway_process("XH-0001", sim.serial, cloud_runtime.mqtt_url, tmp_path / "gw", gateway_keys, None),
    ):
        wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 15, "the cabinet online")
        before = stock(api)
        # A resident buys two cans.
        opened = api.post("/api/v1/cabinets/XH-0001/sessions", headers=bearer(cloud_runtime, "张敏"), json={})
        assert opened.status_code == 201, opened.text
        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 10, "the door")
        sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 2})
        sim.post("/doors/0/close")
        wait_until(lambda: stock(api)[(1, 0)] == before[(1, 0)] - 2, 20, "the sale in the ledger")

        staff = bearer(cloud_runtime, "staff")
        plan = api.get("/api/v1/stores/1/picklist", headers=staff).json()
        assert plan["picking"] == [{"sku": "coke-330", "count": 2, "short": 0}]
        assert plan["route"] == ["XH-0001"]
        in_store = api.get("/api/v1/stores/1/inventory", headers=staff).json()["coke-330"]
        wait_until(lambda: sim.state()["doors"][0]["locked"], 10, "the lock to engage again")

        page.goto(f"{cloud_runtime.url}/s/XH-0001")
        page.fill("#username", "staff")
        page.fill("#password", "staff-demo")
        page.click("#login")
        page.wait_for_selector("#plan:not([hidden])")
        assert "+2" in page.text_content("#plan-rows")
        page.click("#open")
        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 10, "the door")
        sim.post("/put", {"channel": 1, "sku": "coke-330", "count": 2})
        sim.post("/doors/0/close")
        page.wait_for_selector("#confirm:not([hidden])", timeout=20_000)
        # The plan (+2), which the shelf's weight confirms: pre-filled.
        assert page.input_value("input.count") == "2"
        assert "与计划一致" in page.text_content("#check")
        page.screenshot(path=str(tmp_path / "staff.png"), full_page=True)
        page.click("#confirm")
        page.wait_for_function("document.querySelector('#status').textContent.includes('补货已入账')")
        # Confirmed: read-only, saying who and when.
        assert page.locator("input.count").first.get_attribute("readonly") is not None
        assert "staff" in page.text_content("#confirmed-by")
        assert page.locator("#confirm").is_hidden()

        assert stock(api) == before == truth(sim)
        assert api.get("/api/v1/stores/1/inventory", headers=staff).json()["coke-330"] == in_store - 2
        after = api.get("/api/v1/stores/1/picklist", headers=staff).json()
        assert after["picking"] == []


def test_a_restock_that_does_not_match_the_plan_is_counted_by_hand(
    cloud_runtime: CloudRuntime, page: Any, tmp_path: Path, gateway_keys: Path
) -> None:
    """The pick list says +2 cokes, the staff member loads 1: the lane is red and empty until counted."""
    with (
        httpx.Client(base_url=cloud_runtime.url, timeout=10) as api,
        sim_cabinet("chilled-4shelf", seed=32) as sim,
        gateway_process("XH-0001", sim.serial, cloud_runtime.mqtt_url, tmp_path / "gw", gateway_keys, None),
    ):
        wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 15, "the cabinet online")
        opened = api.post("/api/v1/cabinets/XH-0001/sessions", headers=bearer(cloud_runtime, "张敏"), json={})
        assert opened.status_code == 201, opened.text
        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 10, "the door")
        sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 2})
        sim.post("/doors/0/close")
        wait_until(lambda: stock(api) == truth(sim), 20, "the sale in the ledger")
        staff = bearer(cloud_runtime, "staff")
        in_store = api.get("/api/v1/stores/1/inventory", headers=staff).json()["coke-330"]
        wait_until(lambda: sim.state()["doors"][0]["locked"], 10, "the lock to engage again")

        page.goto(f"{cloud_runtime.url}/s/XH-0001")
        page.fill("#username", "staff")
        page.fill("#password", "staff-demo")
        page.click("#login")
        page.wait_for_selector("#plan:not([hidden])")
        page.click("#open")
        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 10, "the door")
        sim.post("/put", {"channel": 1, "sku": "coke-330", "count": 1})
        sim.post("/doors/0/close")
        page.wait_for_selector("#confirm:not([hidden])", timeout=20_000)
        lane = page.locator("tr.verdict-mismatch")
        assert lane.count() == 1
        assert lane.locator("input.count").input_value() == ""  # not the plan, not a guess
        page.click("#confirm")
        assert "清点" in page.text_content("#error")  # nothing confirmed while a lane is uncounted
        lane.locator("input.count").fill("1")
        page.click("#confirm")
        page.wait_for_function("document.querySelector('#status').textContent.includes('补货已入账')")
        assert stock(api) == truth(sim)
        assert api.get("/api/v1/stores/1/inventory", headers=staff).json()["coke-330"] == in_store - 1
