"""Every page in English, as a resident, staff and ops whose browsers ask for it: no Chinese left in
the interface. What is Chinese by nature stays: the switch to 中文 and people's names.

The zh-CN walk (test_pages_zh.py) is the fuller one (reviews, screenshots); this one goes through the
same pages once in English."""

from __future__ import annotations

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
ENGLISH = {"locale": "en-US"}
PEOPLE = ("王芳", "李伟", "张敏", "陈静")  # the demo's residents: a name is not translated


def chinese_on(page: Any) -> list[str]:
    allowed = f"^(中文|{'|'.join(PEOPLE)})$"
    return list(page.evaluate(FIND_FOREIGN, {"allowed": allowed, "foreign": "[\u3400-\u9fff]"}))


@pytest.mark.parametrize("page", [ENGLISH], indirect=True)
def test_every_page_in_english(
    cloud_runtime: CloudRuntime, page: Any, browser: Any, tmp_path: Path, gateway_keys: Path
) -> None:
    context = cloud_runtime.context
    assert context is not None
    url = cloud_runtime.url
    with context.factory() as db:
        ops = db.scalar(select(User).where(User.name == "ops"))
        assert ops is not None
        headers = {"Authorization": f"Bearer {context.tokens.issue(ops.id)}"}
    with (
        httpx.Client(base_url=url, timeout=10, headers=headers) as api,
        sim_cabinet("chilled-4shelf", seed=32) as sim,
        gateway_process("XH-0001", sim.serial, cloud_runtime.mqtt_url, tmp_path / "gw", gateway_keys, None),
    ):
        wait_until(lambda: api.get("/api/v1/cabinets/XH-0001").json()["online"], 20, "the cabinet online")

        # The resident: the hold, a visit, the receipt.
        resident_signs_in(page, cloud_runtime, PHONE)
        assert chinese_on(page) == []
        page.click("#open")
        page.wait_for_selector("#held:not([hidden])")
        assert chinese_on(page) == []
        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 10, "the door to unlock")
        assert sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 1}).status_code == 200
        assert sim.post("/doors/0/close").status_code == 200
        page.wait_for_selector("#receipt:not([hidden])", timeout=30_000)
        assert "Coca-Cola" in page.text_content("#receipt")
        assert chinese_on(page) == []

        # A refusal, a wrong staff password, the cabinet's load list: in English too.
        staff_pages(page, url, chinese_on)
        store_id = api.get("/api/v1/cabinets/XH-0001").json()["store_id"]

        raise_every_other_kind(cloud_runtime)
        wait_until(
            lambda: api.get("/api/v1/cabinets/XH-0001/telemetry").json()["minutes"], 60, "temperatures"
        )
        with desktop(browser, "en-US") as desk:
            desk.goto(f"{url}/staff/stores/{store_id}/picklist")
            sign_in_staff(desk, "staff", "staff-demo")
            desk.wait_for_selector(".stop-marker")
            assert chinese_on(desk) == []

            desk.goto(f"{url}/ops")
            sign_in_staff(desk, "ops", "ops-demo")
            desk.wait_for_selector(".cabinet-dot.cabinet-XH-0001")
            assert chinese_on(desk) == []
            desk.goto(f"{url}/ops/cabinets/XH-0001")
            desk.wait_for_function(CHARTED, arg="#chart")
            assert chinese_on(desk) == []
            desk.goto(f"{url}/ops/alarms")
            desk.wait_for_selector("#alarm-table tbody tr")
            assert chinese_on(desk) == []
            for view in ("reviews", "disputes", "cold_chain", "settings"):
                desk.goto(f"{url}/ops/{view}")
                desk.wait_for_load_state("networkidle")
                assert chinese_on(desk) == [], view
