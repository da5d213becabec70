"""The transactional outbox against a real broker restart between commit and publish, on PostgreSQL, with
a real gateway process and the simulated cabinet on a pty.

The broker hangs (SIGSTOP) just before the cloud commits, so the commit succeeds and the publish does not;
then it dies (SIGKILL) and a fresh one starts on the same port: without persistence, it has lost every
in-flight message, retained config and persistent session. What the cloud committed must still reach the
cabinet, or end cleanly."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from sqlalchemy import select

from cloud.db.models import OutboxMessage, User
from cloud.runtime import CloudRuntime
from firmware_sim.demo.servers import MosquittoServer
from tests.e2e.conftest import Fleet, running_fleet
from tests.harness import wait_until

pytestmark = [pytest.mark.slow, pytest.mark.postgres]
CAB = "XH-0001"


def money(runtime: CloudRuntime, name: str) -> tuple[int, int]:
    assert runtime.context is not None
    with runtime.context.factory() as db:
        user = db.scalar(select(User).where(User.name == name))
        assert user is not None
        return user.balance_fen, user.held_fen


def outcomes(runtime: CloudRuntime, kind: str) -> list[str]:
    assert runtime.context is not None
    with runtime.context.factory() as db:
        query = select(OutboxMessage.outcome).where(OutboxMessage.kind == kind).order_by(OutboxMessage.id)
        return list(db.scalars(query))


def restart(broker: MosquittoServer) -> None:
    broker.crash()
    broker.start()


@pytest.fixture
def fleet(
    request: pytest.FixtureRequest, pg_url: str, mosquitto: MosquittoServer, tmp_path: Path
) -> Iterator[Fleet]:
    """A cloud (settings from the test's `cloud` marker), one gateway and its simulated cabinet, online."""
    marker = request.node.get_closest_marker("cloud")
    with running_fleet(pg_url, mosquitto, tmp_path, **(marker.kwargs if marker else {})) as running:
        yield running


def test_an_unlock_committed_while_the_broker_is_down_still_opens_the_door(
    fleet: Fleet, mosquitto: MosquittoServer
) -> None:
    runtime, sim, api = fleet.runtime, fleet.sim, fleet.api
    mosquitto.freeze()
    opened = api.post(f"/api/v1/cabinets/{CAB}/sessions", headers=fleet.bearer("张敏"), json={})
    assert opened.status_code == 201, opened.text  # committed: the hold and the unlock, together
    session = opened.json()["session_id"]
    time.sleep(1.5)  # the dispatcher publishes, hears no PUBACK, backs off
    assert outcomes(runtime, "command") == [""]
    restart(mosquitto)
    wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 30, "the door to unlock")
    headers = fleet.bearer("张敏")
    wait_until(
        lambda: api.get(f"/api/v1/sessions/{session}", headers=headers).json()["status"] == "open",
        15,
        "the session to see the door open",
    )
    # The broker's PUBACK may come after the door opened (paho re-sent its in-flight copy on reconnect).
    wait_until(lambda: outcomes(runtime, "command") == ["delivered"], 15, "the unlock marked delivered")


@pytest.mark.cloud(command_ttl_s=2)
def test_an_unlock_that_expires_before_the_broker_returns_ends_cleanly(
    fleet: Fleet, mosquitto: MosquittoServer
) -> None:
    runtime, sim, api = fleet.runtime, fleet.sim, fleet.api
    before = money(runtime, "张敏")
    mosquitto.freeze()
    opened = api.post(f"/api/v1/cabinets/{CAB}/sessions", headers=fleet.bearer("张敏"), json={})
    assert opened.status_code == 201, opened.text
    session = opened.json()["session_id"]
    assert money(runtime, "张敏") == (before[0], before[1] + 5000)
    headers = fleet.bearer("张敏")
    # Unanswered past twice its lifetime: the visit fails and its hold is released, broker or not.
    wait_until(
        lambda: api.get(f"/api/v1/sessions/{session}", headers=headers).json()["phase"] == "final",
        20,
        "the visit to end",
    )
    view = api.get(f"/api/v1/sessions/{session}", headers=headers).json()
    assert (view["status"], view["detail"]) == ("failed", "the cabinet did not answer")
    assert money(runtime, "张敏") == before
    restart(mosquitto)
    wait_until(lambda: outcomes(runtime, "command") == ["expired"], 15, "the unlock given up")
    time.sleep(2)
    assert sim.state()["doors"][0]["locked"], "an expired unlock must never open the door"


def test_a_config_the_broker_lost_still_lands(
    fleet: Fleet, mosquitto: MosquittoServer
) -> None:
    """The broker takes the retained config (PUBACK) while the gateway is away, then restarts and loses
    it: the cloud sends it again until the gateway says it runs it."""
    runtime, sim, api, gateway = fleet.runtime, fleet.sim, fleet.api, fleet.gateway
    staff = fleet.bearer("staff")
    applied = api.get(f"/api/v1/cabinets/{CAB}").json()["config_applied"]
    assert applied is not None
    change = {"channel": 1, "lane": 1, "sku": "genki-480"}
    planned = api.post(f"/api/v1/cabinets/{CAB}/planogram/changes", headers=staff, json=change)
    assert planned.status_code == 201, planned.text
    visit = api.post(f"/api/v1/cabinets/{CAB}/sessions", headers=staff, json={"mode": "restock"})
    assert visit.status_code == 201, visit.text
    session = visit.json()["session_id"]
    wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 15, "the door")
    sim.post("/doors/0/close")
    wait_until(
        lambda: api.get(f"/api/v1/sessions/{session}", headers=staff).json()["status"] == "confirm",
        20,
        "the visit to wait for the staff member's counts",
    )
    gateway.stop()  # the cabinet loses its network
    stock = {(s["channel"], s["lane"]): s["count"] for s in api.get(f"/api/v1/cabinets/{CAB}/stock").json()}
    counts = {"lanes": [{"channel": 1, "lane": 1, "delta": 5, "pulled": stock[(1, 1)]}]}
    confirmed = api.post(f"/api/v1/sessions/{session}/restock/confirm", headers=staff, json=counts)
    assert confirmed.status_code == 200, confirmed.text
    assert api.get(f"/api/v1/cabinets/{CAB}").json()["config_version"] == applied + 1
    wait_until(
        lambda: outcomes(runtime, "config")[-1:] == [""] and sent(runtime), 10, "the broker to have it"
    )
    restart(mosquitto)  # a fresh broker: the retained config is gone
    gateway.start()
    wait_until(
        lambda: api.get(f"/api/v1/cabinets/{CAB}").json()["config_applied"] == applied + 1,
        40,
        "the gateway to run the new config",
    )
    assert outcomes(runtime, "config")[-1] == "applied"


def sent(runtime: CloudRuntime) -> bool:
    assert runtime.context is not None
    with runtime.context.factory() as db:
        newest = db.scalar(
            select(OutboxMessage).where(OutboxMessage.kind == "config").order_by(OutboxMessage.id.desc())
        )
        return newest is not None and newest.sent_at is not None
