"""Charges and stock a chain can trust, end to end on SQLite and on PostgreSQL: the simulated cabinet on a
pty, a real gateway process, Mosquitto, the cloud; the resident, staff and ops through the HTTP API."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.demo.servers import MosquittoServer
from tests.e2e.conftest import Fleet, running_fleet
from tests.harness import wait_until

pytestmark = [pytest.mark.slow]
CAB = "XH-0001"
RESIDENT = "王芳"  # ¥200.00 on her prepaid balance


@pytest.fixture
def fleet(db_url: str, mosquitto: MosquittoServer, tmp_path: Path) -> Iterator[Fleet]:
    with running_fleet(db_url, mosquitto, tmp_path) as running:
        yield running


def visit(fleet: Fleet, who: str, mode: str = "resident") -> str:
    opened = fleet.api.post(
        f"/api/v1/cabinets/{CAB}/sessions", headers=fleet.bearer(who), json={"mode": mode}
    )
    assert opened.status_code == 201, opened.text
    wait_until(lambda: fleet.sim.post("/doors/0/open").status_code == 200, 15, "the door to unlock")
    return str(opened.json()["session_id"])


def close_and_wait(fleet: Fleet, session: str, who: str) -> dict[str, Any]:
    """Close the door; the session once it is no longer live."""
    assert fleet.sim.post("/doors/0/close").status_code == 200
    headers = fleet.bearer(who)
    url = f"/api/v1/sessions/{session}"
    wait_until(lambda: fleet.api.get(url, headers=headers).json()["phase"] != "live", 30, "the result")
    return dict(fleet.api.get(url, headers=headers).json())


def honestly(fleet: Fleet, session: str, view: dict[str, Any], taken: dict[str, int]) -> None:
    """When the weights were unsure, the resident (or else ops) says what was really taken."""
    if view["status"] == "choose":
        offers = [{i["sku"]: i["count"] for i in o["items"]} for o in view["offers"]]
        offer = offers.index(taken) if taken in offers else None
        url = f"/api/v1/sessions/{session}/choice"
        assert fleet.api.post(url, headers=fleet.bearer(RESIDENT), json={"offer": offer}).status_code == 200
        view = fleet.api.get(f"/api/v1/sessions/{session}", headers=fleet.bearer(RESIDENT)).json()
    if view["status"] == "review":
        stock = fleet.api.get(f"/api/v1/cabinets/{CAB}/stock").json()
        lanes = [
            {"channel": s["channel"], "lane": s["lane"], "sku": s["sku"], "delta": -taken[s["sku"]]}
            for s in stock
            if s["sku"] in taken
        ]
        url = f"/api/v1/sessions/{session}/review"
        assert fleet.api.post(url, headers=fleet.bearer("ops"), json={"lanes": lanes}).status_code == 200


def settled(fleet: Fleet, session: str, who: str) -> dict[str, Any]:
    headers, url = fleet.bearer(who), f"/api/v1/sessions/{session}"
    wait_until(
        lambda: fleet.api.get(url, headers=headers).json()["phase"] == "final", 15, "the money to move"
    )
    return dict(fleet.api.get(url, headers=headers).json())


def ledger(fleet: Fleet) -> dict[tuple[int, int], int]:
    return {
        (s["channel"], s["lane"]): s["count"] for s in fleet.api.get(f"/api/v1/cabinets/{CAB}/stock").json()
    }


def truth(fleet: Fleet) -> dict[tuple[int, int], int]:
    state = fleet.sim.state()
    return {(c["channel"], lane["lane"]): lane["count"] for c in state["channels"] for lane in c["lanes"]}


def balance(fleet: Fleet, who: str) -> int:
    return int(fleet.api.get("/api/v1/auth/me", headers=fleet.bearer(who)).json()["balance_fen"])


def test_five_onigiri_are_charged_as_five_onigiri(fleet: Fleet) -> None:
    """5 × 112 g = 560 g lies 10 g from 3 ham sandwiches (570 g): the cabinet must not guess."""
    before = balance(fleet, RESIDENT)
    session = visit(fleet, RESIDENT)
    assert fleet.sim.post("/take", {"channel": 2, "sku": "tuna-onigiri", "count": 5}).status_code == 200
    view = close_and_wait(fleet, session, RESIDENT)
    if view["status"] == "choose":  # unsure: the resident says which basket is true
        offers = [{i["sku"]: i["count"] for i in o["items"]} for o in view["offers"]]
        assert {"tuna-onigiri": 5} in offers, offers
        pick = {"offer": offers.index({"tuna-onigiri": 5})}
        chosen = fleet.api.post(
            f"/api/v1/sessions/{session}/choice", headers=fleet.bearer(RESIDENT), json=pick
        )
        assert chosen.status_code == 200, chosen.text
    view = settled(fleet, session, RESIDENT)
    assert [(i["sku"], i["count"]) for i in view["items"]] == [("tuna-onigiri", 5)]
    assert balance(fleet, RESIDENT) == before - 5 * 790
    assert ledger(fleet) == truth(fleet)


def test_a_restock_is_checked_against_its_plan(fleet: Fleet) -> None:
    """Staff load exactly the pick list onto a shelf of two products: every lane's verdict is a match,
    confirming the plan makes the ledger the physical truth, the store gives what was confirmed."""
    session = visit(fleet, RESIDENT)
    assert fleet.sim.post("/take", {"channel": 0, "sku": "bright-milk-200", "count": 5}).status_code == 200
    assert fleet.sim.post("/take", {"channel": 0, "sku": "ham-sandwich", "count": 4}).status_code == 200
    view = close_and_wait(fleet, session, RESIDENT)
    honestly(fleet, session, view, {"bright-milk-200": 5, "ham-sandwich": 4})
    wait_until(lambda: ledger(fleet) == truth(fleet), 15, "the sale in the ledger")
    staff = fleet.bearer("staff")
    plan = fleet.api.get("/api/v1/stores/1/picklist", headers=staff).json()
    [cabinet] = [c for c in plan["cabinets"] if c["code"] == CAB]
    loads = {
        (lane["channel"], lane["lane"]): (lane["sku"], lane["load"])
        for lane in cabinet["lanes"]
        if lane["load"]
    }
    assert {(0, 0), (0, 1)} <= set(loads)
    in_store = fleet.api.get("/api/v1/stores/1/inventory", headers=staff).json()

    restock = visit(fleet, "staff", mode="restock")
    for (channel, _), (sku, count) in loads.items():  # the staff member loads exactly the plan
        assert fleet.sim.post("/put", {"channel": channel, "sku": sku, "count": count}).status_code == 200
    view = close_and_wait(fleet, restock, "staff")
    assert view["status"] == "confirm"
    check = {(row["channel"], row["lane"]): row for row in view["check"]}
    for key, (_, count) in loads.items():
        assert (check[key]["planned"], check[key]["verdict"]) == (count, "match"), check[key]
    counts = {"lanes": [{"channel": c, "lane": n, "delta": load} for (c, n), (_, load) in loads.items()]}
    confirmed = fleet.api.post(f"/api/v1/sessions/{restock}/restock/confirm", headers=staff, json=counts)
    assert confirmed.status_code == 200, confirmed.text
    assert ledger(fleet) == truth(fleet)
    moved = fleet.api.get("/api/v1/stores/1/inventory", headers=staff).json()
    assert all(moved[sku] == in_store[sku] - count for sku, count in loads.values())


def test_a_disputed_receipt_is_refunded(fleet: Fleet) -> None:
    before = balance(fleet, RESIDENT)
    session = visit(fleet, RESIDENT)
    fleet.sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 2})
    close_and_wait(fleet, session, RESIDENT)
    assert settled(fleet, session, RESIDENT)["amount_fen"] == 700
    resident = fleet.bearer(RESIDENT)
    objection = {"reason": "我只拿了一罐 / I took one can"}
    disputed = fleet.api.post(f"/api/v1/sessions/{session}/dispute", headers=resident, json=objection)
    assert disputed.status_code == 201, disputed.text
    ops = fleet.bearer("ops")
    [found] = fleet.api.get("/api/v1/disputes", headers=ops).json()
    assert len(found["session"]["result"]["baseline"]) == len(found["session"]["result"]["final"]) > 0
    decision = {"refund_fen": 350, "note": "goodwill: the trace shows two cans"}
    decided = fleet.api.post(f"/api/v1/disputes/{found['id']}/decision", headers=ops, json=decision)
    assert decided.status_code == 200, decided.text
    wait_until(lambda: balance(fleet, RESIDENT) == before - 700 + 350, 10, "the refund")
    mine = fleet.api.get(f"/api/v1/sessions/{session}", headers=resident).json()
    assert (mine["dispute"]["state"], mine["dispute"]["refund_fen"]) == ("refunded", 350)


def unsure(fleet: Fleet) -> None:
    """Ops make XH-0001 demand certainty no weighing reaches (min_confidence 1): every basket is offered."""
    ops = fleet.bearer("ops")
    before = fleet.api.get(f"/api/v1/cabinets/{CAB}").json()["config_applied"]
    changed = fleet.api.put(f"/api/v1/cabinets/{CAB}/settings", headers=ops, json={"min_confidence": 1.0})
    assert changed.status_code == 200, changed.text
    wait_until(
        lambda: (fleet.api.get(f"/api/v1/cabinets/{CAB}").json()["config_applied"] or 0) > (before or 0),
        20,
        "the gateway to run the new settings",
    )


def test_the_resident_chooses_when_the_weights_are_not_sure(fleet: Fleet) -> None:
    unsure(fleet)
    before = balance(fleet, RESIDENT)
    session = visit(fleet, RESIDENT)
    assert fleet.sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 2}).status_code == 200
    view = close_and_wait(fleet, session, RESIDENT)
    assert view["status"] == "choose", view["status"]
    assert balance(fleet, RESIDENT) == before  # nothing charged before the resident says
    offers = [{i["sku"]: i["count"] for i in o["items"]} for o in view["offers"]]
    assert {"coke-330": 2} in offers, offers
    pick = {"offer": offers.index({"coke-330": 2})}
    chosen = fleet.api.post(f"/api/v1/sessions/{session}/choice", headers=fleet.bearer(RESIDENT), json=pick)
    assert chosen.status_code == 200, chosen.text
    assert settled(fleet, session, RESIDENT)["amount_fen"] == 700
    assert balance(fleet, RESIDENT) == before - 700
    assert ledger(fleet) == truth(fleet)
