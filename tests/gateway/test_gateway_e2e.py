"""The gateway against a real Mosquitto and a simulated cabinet on a pty."""

from __future__ import annotations

import time
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

from firmware_sim.demo.servers import MosquittoServer, free_port
from firmware_sim.layout import load_layout, planogram_of
from protocols.mqtt.schemas import CabinetSettings, Config, encode
from protocols.signing import KeyPair, generate_keypair
from tests.harness import (
    GatewayProcess,
    StandInCloud,
    gateway_process,
    unlock_command,
    wait_until,
)
from tests.sim_fixture import SimProcess, sim_cabinet

pytestmark = pytest.mark.slow


def planogram_file(tmp_path: Path, layout: str = "chilled-4shelf") -> Path:
    path = tmp_path / "planogram.json"
    fast = CabinetSettings(telemetry_interval_s=1, door_open_timeout_s=4, settle_timeout_s=6)
    config = Config(version=1, planogram=planogram_of(load_layout(layout)), settings=fast)
    path.write_bytes(encode(config))
    return path


def run_gateway(
    cabinet: str, sim: SimProcess, mqtt_url: str, tmp_path: Path, keys_dir: Path
) -> AbstractContextManager[GatewayProcess]:
    plan = planogram_file(tmp_path)
    return gateway_process(cabinet, sim.serial, mqtt_url, tmp_path / "gw", keys_dir, plan)


def shop(sim: SimProcess, takes: list[tuple[int, str, int]]) -> None:
    """Open the released door, take items, close it: what a resident does.

    The tests' baskets are ones the weights tell apart whatever pieces the simulator hands out
    (2 milk + 1 sandwich on one shelf, 608 g, against 1 + 2, 589 g, can come out unsure, rightly:
    the resident then chooses)."""
    wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 5, "the door to release")
    for channel, sku, count in takes:
        assert sim.post("/take", {"channel": channel, "sku": sku, "count": count}).status_code == 200
    time.sleep(0.2)
    assert sim.post("/doors/0/close").status_code == 200


def lanes_of(result: Any) -> set[tuple[int, int, str, int]]:
    return {(lane.channel, lane.lane, lane.sku, lane.delta) for lane in result.lanes}


def gateway_online(cloud: StandInCloud, cabinet: str) -> None:
    # Generous: a gateway process takes seconds to import on a busy 2-core machine.
    wait_until(lambda: (cabinet, "online") in cloud.statuses, 60, "the gateway's birth message")
    wait_until(lambda: any(t["boards"] for t in cloud.telemetry), 20, "boards in telemetry")


def test_unlock_take_close_reports_one_session_result(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    metrics_port = free_port()
    with (
        sim_cabinet("chilled-4shelf", seed=5) as sim,
        gateway_process(
            "CAB-A",
            sim.serial,
            mosquitto.url,
            tmp_path / "gw",
            keys_dir,
            planogram_file(tmp_path),
            {"VF_METRICS_PORT": str(metrics_port)},
        ),
    ):
        gateway_online(cloud, "CAB-A")
        command = unlock_command("CAB-A", keys, session_id="s-1")
        cloud.send("CAB-A", command)
        wait_until(lambda: cloud.ack_for(command.command_id), 5, "the ack")
        assert cloud.ack_for(command.command_id)[0].status == "accepted"
        shop(sim, [(0, "bright-milk-200", 2), (1, "coke-330", 1)])
        wait_until(lambda: cloud.of_kind("session_result"), 15, "the session result")
        time.sleep(1)
        (result,) = cloud.of_kind("session_result")
        assert result.session_id == "s-1"
        assert not result.ambiguous
        assert lanes_of(result) == {(0, 0, "bright-milk-200", -2), (1, 0, "coke-330", -1)}
        assert [e.action for e in cloud.of_kind("door")] == ["opened", "closed"]
        assert all(e.session_id == "s-1" for e in cloud.of_kind("door"))
        statuses = [a.status for a in cloud.ack_for(command.command_id)]
        assert statuses == ["accepted", "done"]
        metrics = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
        assert "vendfleet_gateway_bus_requests" in metrics
        assert "vendfleet_gateway_outbox_depth" in metrics


def pulse_after(sim: SimProcess, cloud: StandInCloud, cabinet: str, keys: KeyPair, session_id: str) -> float:
    """Seconds from sending an unlock to the simulated lock letting go."""
    command = unlock_command(cabinet, keys, session_id=session_id)
    start = time.monotonic()
    cloud.send(cabinet, command)
    wait_until(lambda: not sim.state()["doors"][0]["locked"], 5, "the pulse")
    return time.monotonic() - start


def test_the_pulse_waits_for_the_scales_only_when_polling_proves_nothing(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    """#13: on a quiet cabinet the lock is pulsed at once, the baseline being what polling saw while
    the door stayed shut. Shelves still ringing (SETTLE_S = 1.5 s) from a door forced open and
    slammed shut prove nothing: the scales are read before the pulse, never after (a hand may be in
    by then), so the basket stays exact either way."""
    with (
        sim_cabinet("chilled-4shelf", seed=5) as sim,
        run_gateway("CAB-P", sim, mosquitto.url, tmp_path, keys_dir),
    ):
        gateway_online(cloud, "CAB-P")
        assert sim.post("/doors/0/open", {"force": True}).status_code == 200
        assert sim.post("/doors/0/close").status_code == 200  # every shelf of door 0 rings now
        pulse_after(sim, cloud, "CAB-P", keys, "s-ringing")
        shop(sim, [(0, "bright-milk-200", 1)])
        wait_until(lambda: len(cloud.of_kind("session_result")) == 1, 15, "the first result")
        (ringing,) = cloud.of_kind("session_result")
        assert not ringing.ambiguous
        assert all(r.stable for r in ringing.baseline)
        assert lanes_of(ringing) == {(0, 0, "bright-milk-200", -1)}
        # The next session's baseline is the reading that settled the first: exact, and no wait.
        assert pulse_after(sim, cloud, "CAB-P", keys, "s-quiet") < 0.75
        shop(sim, [(0, "bright-milk-200", 2), (1, "coke-330", 1)])
        wait_until(lambda: len(cloud.of_kind("session_result")) == 2, 15, "the second result")
        quiet = cloud.of_kind("session_result")[1]
        assert quiet.session_id == "s-quiet"
        assert not quiet.ambiguous
        assert all(r.stable for r in quiet.baseline)
        assert lanes_of(quiet) == {(0, 0, "bright-milk-200", -2), (1, 0, "coke-330", -1)}


def test_forged_expired_misaddressed_and_replayed_commands_never_move_a_lock(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    with (
        sim_cabinet("chilled-4shelf", seed=6) as sim,
        run_gateway("CAB-B", sim, mosquitto.url, tmp_path, keys_dir),
    ):
        gateway_online(cloud, "CAB-B")
        bad = {
            "bad_signature": unlock_command("CAB-B", generate_keypair()),
            "expired": unlock_command("CAB-B", keys, issued=datetime.now(UTC) - timedelta(minutes=3)),
            "wrong_cabinet": unlock_command("CAB-OTHER", keys),
        }
        for command in bad.values():
            cloud.send("CAB-B", command)
        for reason, command in bad.items():
            wait_until(lambda c=command: cloud.ack_for(c.command_id), 5, f"the {reason} ack")
            (ack,) = cloud.ack_for(command.command_id)
            assert (ack.status, ack.reason) == ("rejected", reason)
        assert sim.post("/doors/0/open").status_code == 409  # still locked

        good = unlock_command("CAB-B", keys)
        cloud.send("CAB-B", good)
        wait_until(lambda: cloud.ack_for(good.command_id), 5, "the ack")
        time.sleep(2)  # the 1.5 s pulse is over; the door was never opened
        cloud.send("CAB-B", good)
        wait_until(lambda: len(cloud.ack_for(good.command_id)) >= 2, 5, "the replay's ack")
        replay = [a for a in cloud.ack_for(good.command_id) if a.status == "rejected"]
        assert replay[0].reason == "replayed"
        assert sim.post("/doors/0/open").status_code == 409  # the replay did not pulse
        wait_until(lambda: cloud.of_kind("session_result"), 10, "the not_opened result")
        assert cloud.of_kind("session_result")[0].outcome == "not_opened"


def test_broker_outage_loses_no_event(
    tmp_path: Path, mosquitto_factory: Any, keys: KeyPair, keys_dir: Path
) -> None:
    broker = mosquitto_factory()
    cloud = StandInCloud(broker.port)
    try:
        with (
            sim_cabinet("chilled-4shelf", seed=7) as sim,
            run_gateway("CAB-C", sim, broker.url, tmp_path, keys_dir),
        ):
            gateway_online(cloud, "CAB-C")
            command = unlock_command("CAB-C", keys, session_id="during-outage")
            cloud.send("CAB-C", command)
            wait_until(lambda: cloud.ack_for(command.command_id), 5, "the ack")
            broker.stop()
            shop(sim, [(1, "coke-330", 1)])
            time.sleep(2)  # the pulse ends: the next openings are forced
            for _ in range(3):  # forced doors while nobody listens: alarms and door events
                sim.post("/doors/0/open", {"force": True})
                sim.post("/doors/0/close")
            time.sleep(3)
            restarted_at = datetime.now(UTC)
            broker.start()
            wait_until(lambda: len(cloud.of_kind("alarm")) >= 6, 20, "the outage's alarms")
            wait_until(lambda: cloud.of_kind("session_result"), 10, "the outage's session")
            events = sorted(cloud.events.values(), key=lambda e: e.seq)
            assert [e.seq for e in events] == list(range(1, len(events) + 1))  # none lost
            assert len(events) == len({e.event_id for e in events})
            # Re-sent after the outage, they keep the time they happened.
            assert all(e.ts < restarted_at for e in events)
            (result,) = cloud.of_kind("session_result")
            assert lanes_of(result) == {(1, 0, "coke-330", -1)}
            wait_until(
                lambda: cloud.telemetry and cloud.telemetry[-1]["outbox_depth"] == 0,
                10,
                "the outbox to drain",
            )
    finally:
        cloud.close()


def test_sigkill_mid_session_still_reports_it_once(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    plan = planogram_file(tmp_path)
    with sim_cabinet("chilled-4shelf", seed=8) as sim:
        with gateway_process("CAB-D", sim.serial, mosquitto.url, tmp_path / "gw", keys_dir, plan) as gw:
            gateway_online(cloud, "CAB-D")
            command = unlock_command("CAB-D", keys, session_id="killed")
            cloud.send("CAB-D", command)
            wait_until(lambda: cloud.ack_for(command.command_id), 5, "the ack")
            wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 5, "the door")
            sim.post("/take", {"channel": 2, "sku": "tuna-onigiri", "count": 2})
            wait_until(lambda: cloud.of_kind("door"), 5, "the door opened event")
            gw.kill()
        sim.post("/doors/0/close")
        with gateway_process("CAB-D", sim.serial, mosquitto.url, tmp_path / "gw", keys_dir, plan):
            wait_until(lambda: cloud.of_kind("session_result"), 45, "the resumed session's result")
            time.sleep(1)
        (result,) = cloud.of_kind("session_result")
        assert result.session_id == "killed"
        assert lanes_of(result) == {(2, 1, "tuna-onigiri", -2)}


def test_killed_right_after_the_pulse_the_gateway_reports_the_session_and_refuses_its_replay(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    # The command id is stored in the session's commit (one fsync before the pulse): both must be
    # on disk by the time the lock is released.
    plan = planogram_file(tmp_path)
    with sim_cabinet("chilled-4shelf", seed=11) as sim:
        with gateway_process("CAB-G", sim.serial, mosquitto.url, tmp_path / "gw", keys_dir, plan) as gw:
            gateway_online(cloud, "CAB-G")
            command = unlock_command("CAB-G", keys, session_id="pulsed")
            cloud.send("CAB-G", command)
            wait_until(lambda: sim.state()["doors"][0]["pulsed_at"] is not None, 5, "the pulse")
            gw.kill()
        with gateway_process("CAB-G", sim.serial, mosquitto.url, tmp_path / "gw", keys_dir, plan):
            cloud.send("CAB-G", command)
            wait_until(
                lambda: any(a.reason == "replayed" for a in cloud.ack_for(command.command_id)),
                45,
                "the replay refused",
            )
            wait_until(lambda: cloud.of_kind("session_result"), 30, "the killed session's result")
        (result,) = cloud.of_kind("session_result")
        assert (result.session_id, result.outcome) == ("pulsed", "not_opened")


def test_corrupted_line_costs_retries_not_a_wrong_basket(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    with (
        sim_cabinet("chilled-4shelf", seed=9, faults="corrupt=0.01") as sim,
        run_gateway("CAB-E", sim, mosquitto.url, tmp_path, keys_dir),
    ):
        gateway_online(cloud, "CAB-E")
        for n in range(2):
            command = unlock_command("CAB-E", keys, session_id=f"noisy-{n}")
            cloud.send("CAB-E", command)
            wait_until(lambda c=command: cloud.ack_for(c.command_id), 5, "the ack")
            shop(sim, [(2, "genki-480", 1), (1, "nongfu-550", 1)])
            wait_until(lambda n=n: len(cloud.of_kind("session_result")) > n, 15, "the result")
        for result in cloud.of_kind("session_result"):
            assert not result.ambiguous
            assert lanes_of(result) == {(2, 0, "genki-480", -1), (1, 1, "nongfu-550", -1)}


def test_dead_scale_channel_is_an_alarm_never_a_confident_basket(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    with (
        sim_cabinet("chilled-4shelf", seed=10, faults="dead_channel=2") as sim,
        run_gateway("CAB-F", sim, mosquitto.url, tmp_path, keys_dir),
    ):
        gateway_online(cloud, "CAB-F")
        wait_until(lambda: any(a.alarm == "scale_fault" for a in cloud.of_kind("alarm")), 10, "alarm")
        command = unlock_command("CAB-F", keys, session_id="dead")
        cloud.send("CAB-F", command)
        wait_until(lambda: cloud.ack_for(command.command_id), 5, "the ack")
        shop(sim, [(2, "tuna-onigiri", 1)])
        wait_until(lambda: cloud.of_kind("session_result"), 20, "the result")
        (result,) = cloud.of_kind("session_result")
        assert result.ambiguous
        assert {c.channel: c.outcome for c in result.channels}[2] == "fault"
        assert all(lane.channel != 2 for lane in result.lanes)
