"""The ops settings page in Chromium: a cabinet's override saved there reaches its signed config."""

from __future__ import annotations

import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from cloud.db.models import User
from cloud.runtime import CloudRuntime
from protocols import ProtocolError
from protocols.mqtt.schemas import Config, Telemetry, encode
from protocols.mqtt.topics import Channel, topic
from protocols.signing import load_public_key, verify_config
from tests.harness import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]


class Configs:
    """The configs the broker hands a cabinet (the retained one first)."""

    def __init__(self, port: int, cabinet: str) -> None:
        self.cabinet = cabinet
        self.raw: list[bytes] = []
        self.subscribed = threading.Event()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe(topic(cabinet, Channel.CONFIG), qos=1)
        self.client.on_subscribe = lambda *a: self.subscribed.set()
        self.client.on_message = lambda c, u, m: self.raw.append(bytes(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def ours(self, key: Any) -> Config | None:
        """The newest config received that this cloud signed for the cabinet."""
        for raw in reversed(self.raw):
            try:
                return verify_config(raw, key, self.cabinet)
            except ProtocolError:
                continue
        return None

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def ops_headers(runtime: CloudRuntime) -> dict[str, str]:
    context = runtime.context
    assert context is not None
    with context.factory() as db:
        ops = db.scalar(select(User).where(User.name == "ops"))
        assert ops is not None
        return {"Authorization": f"Bearer {context.tokens.issue(ops.id)}"}


@pytest.mark.parametrize("page", [{"viewport": {"width": 1280, "height": 900}}], indirect=True)
def test_a_cabinet_setting_saved_on_the_page_reaches_that_cabinets_config(
    cloud_runtime: CloudRuntime, page: Any, tmp_path: Path, mosquitto: Any
) -> None:
    context = cloud_runtime.context
    assert context is not None
    key = load_public_key(context.keys.public_pem)
    configs = Configs(mosquitto.port, "XH-0003")
    try:
        assert configs.subscribed.wait(10)
        # The broker may still hold an earlier test's retained config, signed by another cloud's key.
        wait_until(lambda: configs.ours(key), 10, "the retained config of this cloud")
        before = configs.ours(key)
        assert before is not None
        assert before.settings.chilled_max_c == 8.0

        page.goto(f"{cloud_runtime.url}/ops/settings?lang=en")
        page.fill("#username", "ops")
        page.fill("#password", "ops-demo")
        page.click("#login")
        page.wait_for_selector("#settings-table tr[data-setting='chilled_max_c']")
        page.select_option("#target", "cabinet:XH-0003")
        row = "#settings-table tr[data-setting='chilled_max_c']"
        assert page.inner_text(f"{row} td:first-child") == "Chilled goods up to (°C)"
        page.fill(f"{row} input", "5.5")
        page.fill("#settings-table tr[data-setting='warm_grace_s'] input", "60")
        page.click("#save")
        page.wait_for_selector("#saved:has-text('Saved')")
        assert page.inner_text(f"{row} td:last-child") == "5.5"  # in force now
        page.screenshot(path=str(tmp_path / "settings.png"), full_page=True)

        # Signed, one version up, carrying the new limit; the other cabinets are as they were.
        wait_until(lambda: (configs.ours(key) or before).version > before.version, 10, "a new config")
        after = configs.ours(key)
        assert after is not None
        assert (after.version, after.settings.chilled_max_c) == (before.version + 1, 5.5)
        api = httpx.Client(base_url=cloud_runtime.url, headers=ops_headers(cloud_runtime), timeout=10)
        cabinets = {c["code"]: c for c in api.get("/api/v1/settings").json()["cabinets"]}
        assert {code for code, c in cabinets.items() if c["overrides"]} == {"XH-0003"}
        assert {c["effective"]["chilled_max_c"] for code, c in cabinets.items() if code != "XH-0003"} == {8.0}

        # A value out of bounds is refused with a reason, and nothing changes.
        page.fill("#settings-table tr[data-setting='max_take'] input", "0")
        page.click("#save")
        page.wait_for_selector("#error:has-text('max_take')")
        overrides = api.get("/api/v1/cabinets/XH-0003/settings").json()["overrides"]
        assert overrides == {"chilled_max_c": 5.5, "warm_grace_s": 60}

        # 7 °C for two minutes in two chilled cabinets: too warm for XH-0003 now, fine by the fleet's 8 °C.
        t0 = datetime.now(UTC) - timedelta(minutes=3)
        for minutes in (0, 2):
            for code in ("XH-0003", "XH-0005"):
                sample = Telemetry(ts=t0 + timedelta(minutes=minutes), temperatures_c=[7.0])
                configs.client.publish(
                    topic(code, Channel.TELEMETRY), encode(sample), qos=1
                ).wait_for_publish(5)

        def warm() -> set[str]:
            listed = api.get("/api/v1/alarms", params={"state": "open"}).json()
            return {a["cabinet_code"] for a in listed if a["kind"] == "temperature_high"}

        def minutes(code: str) -> int:
            return len(api.get(f"/api/v1/cabinets/{code}/telemetry").json()["minutes"])

        wait_until(lambda: minutes("XH-0003") >= 2 and minutes("XH-0005") >= 2, 15, "both cabinets' samples")
        assert warm() == {"XH-0003"}
        api.close()

        page.goto(f"{cloud_runtime.url}/ops/settings?lang=zh-CN")
        page.wait_for_selector("#settings-table tr[data-setting='chilled_max_c']")
        assert (
            page.inner_text("#settings-table tr[data-setting='chilled_max_c'] td:first-child")
            == "冷藏温度上限（°C）"
        )
    finally:
        configs.close()
