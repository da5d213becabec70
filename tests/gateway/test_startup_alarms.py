"""A gateway next to healthy boards raises no board_fault when a board misses a poll or two: at
start-up on a loaded machine every process is starved for a moment (here the simulator is stopped
for a second), and each cabinet's boards flapped faulty and back. A dead board is still a fault."""

from __future__ import annotations

import os
import signal
import time
from pathlib import Path

import pytest

from firmware_sim.demo.servers import MosquittoServer
from protocols.signing import KeyPair
from tests.gateway.test_gateway_e2e import gateway_online, run_gateway
from tests.harness import StandInCloud, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = [pytest.mark.slow]


@pytest.mark.parametrize("layout", ["chilled-4shelf", "ambient-lanes"])
def test_no_board_fault_at_start_up(
    tmp_path: Path,
    mosquitto: MosquittoServer,
    cloud: StandInCloud,
    keys: KeyPair,
    keys_dir: Path,
    layout: str,
) -> None:
    with (
        sim_cabinet(layout, seed=12) as sim,
        run_gateway("CAB-S", sim, mosquitto.url, tmp_path, keys_dir),
    ):
        gateway_online(cloud, "CAB-S")
        os.kill(sim.proc.pid, signal.SIGSTOP)  # every board misses its polls for a second
        time.sleep(1)
        os.kill(sim.proc.pid, signal.SIGCONT)
        time.sleep(6)  # several poll cycles of every board
        faults = [a for a in cloud.of_kind("alarm") if a.alarm == "board_fault"]
        assert faults == []


def test_a_dead_board_is_still_a_fault(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    with (
        sim_cabinet("chilled-4shelf", seed=13) as sim,
        run_gateway("CAB-D", sim, mosquitto.url, tmp_path, keys_dir),
    ):
        gateway_online(cloud, "CAB-D")
        os.kill(sim.proc.pid, signal.SIGSTOP)  # no board answers any more
        try:
            wait_until(
                lambda: any(a.alarm == "board_fault" and a.state == "raised" for a in cloud.of_kind("alarm")),
                20,
                "a board_fault",
            )
        finally:
            os.kill(sim.proc.pid, signal.SIGCONT)
