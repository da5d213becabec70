"""The simulator's climate over the pty: a failed compressor, ambient air by time of day, an open door.

Driven as the hardware would be: faults and the clock through the world-control HTTP API,
readings through READ_CLIMATE on the serial line.
"""

from __future__ import annotations

from collections.abc import Iterator

import httpx
import pytest

from firmware_sim import world
from firmware_sim.run import RunningCabinet, start_cabinet
from firmware_sim.world import AMBIENT_SWING_C, ambient_at
from protocols.serial.commands import Climate, ReadClimate
from tests.firmware_sim.test_pty import Master

SETPOINT_C = 4.0  # chilled-4shelf


@pytest.fixture
def cabinet(monkeypatch: pytest.MonkeyPatch) -> Iterator[RunningCabinet]:
    # Ambient air follows the local hour: start every run at noon so the figures do not depend on
    # when the tests run.
    monkeypatch.setattr(world, "local_seconds_of_day", lambda: 12 * 3600.0)
    running = start_cabinet("chilled-4shelf", control="127.0.0.1:0", seed=4)
    yield running
    running.stop()


@pytest.fixture
def control(cabinet: RunningCabinet) -> Iterator[httpx.Client]:
    assert cabinet.control_url
    with httpx.Client(base_url=cabinet.control_url, timeout=10) as client:
        yield client


@pytest.fixture
def master(cabinet: RunningCabinet) -> Iterator[Master]:
    m = Master(cabinet.serial_path)
    yield m
    m.close()


def warmest(master: Master) -> float:
    climate = master.ask(0x30, ReadClimate())
    assert isinstance(climate, Climate)
    return max(p for p in climate.probes_centi_celsius if p is not None) / 100


def advance(control: httpx.Client, seconds: float) -> None:
    control.post("/clock/advance", params={"seconds": seconds}).raise_for_status()


def test_failed_compressor_warms_the_cabinet_and_repair_cools_it(
    master: Master, control: httpx.Client
) -> None:
    advance(control, 600)
    assert abs(warmest(master) - SETPOINT_C) < 1.5  # holding its setpoint

    assert control.post("/faults", json={"compressor": "failed"}).json()["compressor"] == "failed"
    advance(control, 1800)  # half an hour, door shut
    warm = warmest(master)
    assert warm > SETPOINT_C + 5  # a chilled alarm's worth, without a door held open
    climate = master.ask(0x30, ReadClimate())
    assert isinstance(climate, Climate)
    assert climate.compressor_on  # it runs, and cools nothing
    assert control.get("/state").json()["compressor_ok"] is False

    control.post("/faults", json={"compressor": "ok"}).raise_for_status()
    advance(control, 1800)
    assert warmest(master) < SETPOINT_C + 1.5


def test_an_open_door_warms_faster_than_a_failed_compressor(master: Master, control: httpx.Client) -> None:
    control.post("/faults", json={"compressor": "failed"}).raise_for_status()
    start = warmest(master)
    advance(control, 300)
    shut = warmest(master) - start
    control.post("/doors/0/open", json={"force": True}).raise_for_status()
    before = warmest(master)
    advance(control, 300)
    assert warmest(master) - before > 3 * shut


def test_ambient_follows_the_time_of_day(control: httpx.Client) -> None:
    mean = 26.0  # chilled-4shelf's ambient_c
    assert ambient_at(mean, 15) == pytest.approx(mean + AMBIENT_SWING_C)
    assert ambient_at(mean, 3) == pytest.approx(mean - AMBIENT_SWING_C)
    seen = []
    for _ in range(4):
        state = control.get("/state").json()
        assert state["ambient_c"] == pytest.approx(ambient_at(mean, state["hour"]), abs=0.01)
        seen.append(state["ambient_c"])
        advance(control, 6 * 3600)
    assert max(seen) - min(seen) > AMBIENT_SWING_C  # a day of quarters spans most of the swing


def test_compressor_fault_in_the_command_line_spec() -> None:
    from firmware_sim.faults import parse_spec

    faults = parse_spec("compressor=failed,lie=ghost_door")
    assert faults.compressor == "failed"
    assert faults.lies == {"ghost_door"}
