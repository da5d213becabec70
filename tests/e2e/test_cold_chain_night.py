"""The cold-chain guard end to end on PostgreSQL: the simulated cabinet on a pty at 60× speed (its compressor
fails through `POST /faults`), a real gateway process, Mosquitto, the cloud; people through the HTTP API and
the pages in Chromium (zh-CN).

The night: the compressor fails, a resident buys milk while the cabinet warms, the chilled lanes are
withheld once their exposure passes the (per-cabinet) limit, ops refund the milk in one action, the
compressor is repaired, and the morning restock pulls every exposed piece as waste and releases the lanes.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.demo.servers import MosquittoServer
from tests.e2e.conftest import Fleet, running_fleet
from tests.e2e.test_money_and_stock import (
    RESIDENT,
    balance,
    close_and_wait,
    honestly,
    ledger,
    settled,
    truth,
    visit,
)
from tests.e2e.test_pages_zh import english_on, shots
from tests.harness import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.browser, pytest.mark.postgres]
CAB = "XH-0001"
CHILLED = {(0, 0), (0, 1), (2, 1), (3, 0), (3, 1)}
EXCURSION_S = 60  # this cabinet's allowance (the fleet's is 30 min): the cloud counts real seconds
SPEED = 60  # the simulated cabinet's physics: a failed compressor warms it past 8 °C in half a minute
CHARTED = """(selector) => {
  const element = document.querySelector(selector);
  const chart = element && echarts.getInstanceByDom(element);
  return Boolean(chart && chart.getOption().series[0].data.length);
}"""


@pytest.fixture
def fleet(pg_url: str, mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(pg_url, mosquitto, tmp_path, speed=SPEED) as running:
        yield running


def warmest(fleet: Fleet) -> float:
    latest = fleet.api.get(f"/api/v1/cabinets/{CAB}/telemetry", headers=fleet.bearer("ops")).json()["latest"]
    return max((t for t in (latest or {}).get("temperatures_c", []) if t is not None), default=-100.0)


def withheld(fleet: Fleet) -> set[tuple[int, int]]:
    stock = fleet.api.get(f"/api/v1/cabinets/{CAB}/stock").json()
    return {(s["channel"], s["lane"]) for s in stock if s["withheld"]}


def incident(fleet: Fleet) -> dict[str, Any]:
    [found] = fleet.api.get("/api/v1/cold-chain/incidents", headers=fleet.bearer("ops")).json()
    return dict(found)


def signed_in(browser: Any, fleet: Fleet, path: str, who: str) -> Any:
    """A page in Chinese with the person's token already stored (sign-in has tests of its own)."""
    page = browser.new_page(viewport={"width": 1280, "height": 900}, locale="zh-CN")
    page.goto(f"{fleet.runtime.url}/c/{CAB}")
    token = fleet.bearer(who)["Authorization"].removeprefix("Bearer ")
    page.evaluate("(token) => localStorage.setItem('vf-token', token)", token)
    page.goto(f"{fleet.runtime.url}{path}")
    return page


def test_a_night_without_cooling(fleet: Fleet, browser: Any, tmp_path: Path) -> None:
    out = shots(tmp_path)
    ops = fleet.bearer("ops")
    settings = {"telemetry_interval_s": 1.0, "chilled_excursion_s": EXCURSION_S}
    changed = fleet.api.put(f"/api/v1/cabinets/{CAB}/settings", headers=ops, json=settings)
    assert changed.status_code == 200, changed.text
    cabinet = f"/api/v1/cabinets/{CAB}"
    wait_until(
        lambda: (
            fleet.api.get(cabinet).json()["config_applied"] == fleet.api.get(cabinet).json()["config_version"]
        ),
        20,
        "the gateway to run the new settings",
    )
    assert fleet.sim.post("/faults", {"compressor": "failed"}).json()["compressor"] == "failed"
    wait_until(lambda: warmest(fleet) > 8.0, 90, "the cabinet reported warm")

    # Before the limit, a resident buys two bottles of the warming milk.
    before = balance(fleet, RESIDENT)
    session = visit(fleet, RESIDENT)
    assert fleet.sim.post("/take", {"channel": 0, "sku": "bright-milk-200", "count": 2}).status_code == 200
    honestly(fleet, session, close_and_wait(fleet, session, RESIDENT), {"bright-milk-200": 2})
    settled(fleet, session, RESIDENT)
    assert balance(fleet, RESIDENT) == before - 900
    assert not withheld(fleet), "the purchase must come before the limit"

    # Past the limit every chilled lane is withheld; the ambient ones still sell.
    wait_until(lambda: withheld(fleet) == CHILLED, 3 * EXCURSION_S, "the chilled lanes withheld")
    found = incident(fleet)
    assert {(x["channel"], x["lane"]) for x in found["lanes"]} == CHILLED
    assert max(p["max_c"] for p in found["curve"]) > 8.0
    [bought] = found["sessions"]
    assert (bought["session_id"], bought["resident"], bought["amount_fen"]) == (session, RESIDENT, 900)

    # The resident page says which goods are unavailable and why.
    resident = signed_in(browser, fleet, f"/c/{CAB}", RESIDENT)
    resident.wait_for_selector("#lanes li.withheld")
    assert resident.locator("#lanes li.withheld").count() == len(CHILLED)
    assert "冷链中断，暂停销售" in resident.text_content("#lanes li.withheld")
    assert english_on(resident) == []
    resident.screenshot(path=str(out / "resident-withheld.png"), full_page=True)

    # Ops see the incident with its curve and refund every visit in one click.
    ops_page = signed_in(browser, fleet, "/ops/cold_chain", "ops")
    ops_page.wait_for_function(CHARTED, arg=".incident .chart")
    assert english_on(ops_page) == []
    ops_page.screenshot(path=str(out / "ops-cold-chain.png"), full_page=True)
    ops_page.click(".incident button")
    wait_until(lambda: balance(fleet, RESIDENT) == before, 15, "the refund")
    again = fleet.api.post(f"/api/v1/cold-chain/incidents/{found['id']}/refund", headers=ops)
    assert (again.status_code, again.json()["code"]) == (409, "already_refunded")

    # Her next visit to the page tells her, once.
    resident.reload()
    resident.wait_for_selector("#cold-chain-notices li")
    assert "已退款 ¥9.00" in resident.text_content("#cold-chain-notices li")
    resident.reload()
    resident.wait_for_selector("#account:not([hidden])")
    assert resident.locator("#cold-chain-notices li").count() == 0

    # Repaired overnight; in the morning the pick list pulls every exposed piece.
    fleet.sim.post("/faults", {"compressor": "ok"}).raise_for_status()
    wait_until(lambda: warmest(fleet) < 8.0, 60, "the cabinet cold again")
    staff = fleet.bearer("staff")
    plan = fleet.api.get("/api/v1/stores/1/picklist", headers=staff).json()
    [lanes] = [c["lanes"] for c in plan["cabinets"] if c["code"] == CAB]
    pulls = {(x["channel"], x["lane"]): (x["sku"], x["pull"]) for x in lanes if x["exposed"]}
    counts = ledger(fleet)
    assert {k: n for k, (_, n) in pulls.items()} == {k: counts[k] for k in CHILLED}
    in_store = fleet.api.get("/api/v1/stores/1/inventory", headers=staff).json()
    picklist = signed_in(browser, fleet, "/staff/stores/1/picklist", "staff")
    picklist.wait_for_selector("#stops table")
    assert picklist.locator("#stops tr", has_text="撤下报废（冷链）").count() == len(CHILLED)
    assert english_on(picklist) == []

    # The restocker replaces each exposed piece with a fresh one, one for one.
    restock = visit(fleet, "staff", mode="restock")
    for (channel, _), (sku, n) in pulls.items():
        assert fleet.sim.post("/take", {"channel": channel, "sku": sku, "count": n}).status_code == 200
        assert fleet.sim.post("/put", {"channel": channel, "sku": sku, "count": n}).status_code == 200
    assert close_and_wait(fleet, restock, "staff")["status"] == "confirm"
    replaced = {"lanes": [{"channel": c, "lane": n, "delta": 0} for c, n in sorted(CHILLED)]}
    confirmed = fleet.api.post(f"/api/v1/sessions/{restock}/restock/confirm", headers=staff, json=replaced)
    assert confirmed.status_code == 200, confirmed.text

    assert not withheld(fleet)
    assert incident(fleet)["closed_at"] is not None
    assert ledger(fleet) == truth(fleet)
    moved = fleet.api.get("/api/v1/stores/1/inventory", headers=staff).json()
    for sku, n in pulls.values():  # the fresh pieces left the store; the exposed ones were written off
        assert moved[sku] == in_store[sku] - n
