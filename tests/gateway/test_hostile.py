"""The gateway under hostile input (issue #10): from the broker and from the serial line.

Real Mosquitto, the simulator on a pty, the gateway as its own process. Whatever arrives, the
gateway logs, counts and drops it, keeps publishing, and still obeys the next valid unlock.
"""

from __future__ import annotations

import json
import time
import uuid
from contextlib import AbstractContextManager
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_sim.demo.servers import MosquittoServer, free_port
from protocols.mqtt.schemas import Command, TareAction
from protocols.mqtt.topics import Channel, topic
from protocols.signing import KeyPair, load_private_key, sign_command
from tests.gateway.hostile import publisher, send, total
from tests.gateway.test_gateway_e2e import gateway_online, lanes_of, planogram_file, shop
from tests.harness import GatewayProcess, StandInCloud, gateway_process, unlock_command, wait_until
from tests.sim_fixture import SimProcess, sim_cabinet

pytestmark = pytest.mark.slow
DROPPED = "vendfleet_gateway_inbound_dropped"
BUS_ERRORS = "vendfleet_gateway_bus_errors"
INTERNAL = "vendfleet_gateway_internal_errors"

# What an attacker, a buggy cloud or a fuzzer puts on a cabinet's evack and cmd topics.
POISON_EVACKS = [
    b'{"seq": 9223372036854775808}',
    b'{"seq": -1}',
    b'{"seq": "x"}',
    b'{"seq": 1e400}',
    b'{"seq": 1, "pad": "' + b"x" * 50_000 + b'"}',
    b"not json {",
    b"\xff\xfe\x00",
    b"",
]
POISON_COMMANDS = [
    # A rejection's reason quotes the offending key: Ack.detail is bounded, so this one used to kill.
    json.dumps({"k" * 5000: 1}).encode(),
    b'{"command_id": "00000000-0000-0000-0000-000000000000", "body": {"action": "unlock", "door": 1e999}}',
    b"[" * 10_000,
    b"\x00" * 1000,
]


def gateway(
    cabinet: str, sim: SimProcess, broker: MosquittoServer, tmp_path: Path, keys_dir: Path, metrics: int
) -> AbstractContextManager[GatewayProcess]:
    plan = planogram_file(tmp_path)
    env = {"VF_METRICS_PORT": str(metrics)}
    return gateway_process(cabinet, sim.serial, broker.url, tmp_path / "gw", keys_dir, plan, env)


def signed(cabinet: str, keys: KeyPair, body: TareAction) -> Command:
    now = datetime.now(UTC)
    command = Command(
        command_id=uuid.uuid4(), cabinet_id=cabinet, ts=now, expires_at=now + timedelta(seconds=60), body=body
    )
    return sign_command(command, load_private_key(keys.private_pem))


def unlock_and_shop(cloud: StandInCloud, sim: SimProcess, cabinet: str, keys: KeyPair, sid: str) -> None:
    command = unlock_command(cabinet, keys, session_id=sid)
    cloud.send(cabinet, command)
    wait_until(lambda: cloud.ack_for(command.command_id), 5, "the unlock's ack")
    assert cloud.ack_for(command.command_id)[0].status == "accepted"
    shop(sim, [(1, "coke-330", 1)])
    wait_until(lambda: any(r.session_id == sid for r in cloud.of_kind("session_result")), 15, "the result")
    (result,) = [r for r in cloud.of_kind("session_result") if r.session_id == sid]
    assert lanes_of(result) == {(1, 0, "coke-330", -1)}


def alive(gw: GatewayProcess) -> bool:
    return gw.proc is not None and gw.proc.poll() is None


def test_poison_on_every_topic_retained_or_not_is_counted_and_dropped(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    cab, metrics = "CAB-POISON", free_port()
    with publisher(mosquitto.port) as evil, sim_cabinet("chilled-4shelf", seed=21) as sim:
        # Retained poison is delivered again at every (re)start.
        send(evil, topic(cab, Channel.EVACK), POISON_EVACKS[0], retain=True)
        send(evil, topic(cab, Channel.CMD), POISON_COMMANDS[0], retain=True)
        send(evil, topic(cab, Channel.CONFIG), b'{"version": 99, "planogram": 1}', retain=True)
        try:
            for run in range(2):
                cloud.statuses.clear()
                cloud.telemetry.clear()
                with gateway(cab, sim, mosquitto, tmp_path, keys_dir, metrics) as gw:
                    gateway_online(cloud, cab)
                    for payload in POISON_EVACKS:
                        send(evil, topic(cab, Channel.EVACK), payload)
                    for payload in POISON_COMMANDS:
                        send(evil, topic(cab, Channel.CMD), payload)
                    wait_until(
                        lambda: total(metrics, DROPPED) >= 3 + len(POISON_EVACKS) + len(POISON_COMMANDS),
                        10,
                        "every poison counted",
                    )
                    assert alive(gw)
                    assert total(metrics, DROPPED, channel="evack") >= len(POISON_EVACKS)
                    assert total(metrics, DROPPED, channel="cmd", reason="malformed") >= len(POISON_COMMANDS)
                    assert total(metrics, DROPPED, channel="config") >= 1
                    assert total(metrics, INTERNAL) == 0
                    # Malformed commands are still answered, with a bounded detail.
                    wait_until(lambda: sum(a.reason == "malformed" for a in cloud.acks) >= 5, 5, "the acks")
                    seen = len(cloud.telemetry)
                    wait_until(lambda s=seen: len(cloud.telemetry) > s + 1, 5, "telemetry going on")
                    unlock_and_shop(cloud, sim, cab, keys, f"after-poison-{run}")
                    assert alive(gw)
        finally:
            for channel in (Channel.EVACK, Channel.CMD, Channel.CONFIG):
                send(evil, topic(cab, channel), b"", retain=True)  # clears the retained message


def test_an_evack_beyond_every_sent_event_deletes_nothing(
    tmp_path: Path, mosquitto: MosquittoServer, keys_dir: Path
) -> None:
    cab, metrics = "CAB-EVACK", free_port()
    silent = StandInCloud(mosquitto.port, acknowledge=False)  # nobody stores: events stay pending
    try:
        with (
            publisher(mosquitto.port) as evil,
            sim_cabinet("chilled-4shelf", seed=22) as sim,
            gateway(cab, sim, mosquitto, tmp_path, keys_dir, metrics),
        ):
            gateway_online(silent, cab)
            sim.post("/doors/0/open", {"force": True})
            sim.post("/doors/0/close")
            wait_until(lambda: len(silent.of_kind("door")) == 2, 10, "the forced door's events")
            send(evil, topic(cab, Channel.EVACK), b'{"seq": 9223372036854775807}')  # schema-valid
            wait_until(lambda: total(metrics, DROPPED, reason="beyond_sent") == 1, 5, "the evack refused")
            arrivals = len(silent.arrivals)
            wait_until(lambda: len(silent.arrivals) > arrivals, 10, "the events re-sent: still pending")
            assert silent.telemetry[-1]["outbox_depth"] >= 3  # opened, closed, forced_open raised, …
    finally:
        silent.close()


def test_tare_of_a_missing_channel_and_unlock_of_a_missing_door_are_rejected(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    cab, metrics = "CAB-TARE", free_port()
    with (
        sim_cabinet("chilled-4shelf", seed=23) as sim,
        gateway(cab, sim, mosquitto, tmp_path, keys_dir, metrics),
    ):
        gateway_online(cloud, cab)
        commands = {
            "missing_channel": signed(cab, keys, TareAction(channel=4)),  # channels 0–3 exist
            "last_byte": signed(cab, keys, TareAction(channel=255)),
            "missing_door": unlock_command(cab, keys, door=1),  # one door: 0
            "real_channel": signed(cab, keys, TareAction(channel=3)),
        }
        for command in commands.values():
            cloud.send(cab, command)
        for name, command in commands.items():
            wait_until(lambda c=command: cloud.ack_for(c.command_id), 5, f"the {name} ack")
        outcome = {
            n: [(a.status, a.reason) for a in cloud.ack_for(c.command_id)] for n, c in commands.items()
        }
        assert outcome == {
            "missing_channel": [("rejected", "unknown_channel")],
            "last_byte": [("rejected", "unknown_channel")],
            "missing_door": [("rejected", "unknown_door")],
            "real_channel": [("done", None)],
        }
        assert sim.post("/doors/1/open").status_code == 409  # the simulator has no door 1 either


def lie(sim: SimProcess, *lies: str) -> None:
    assert sim.post("/faults", {"lies": list(lies)}).status_code == 200


def test_a_lying_board_never_settles_a_session(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    cab, metrics = "CAB-LIES", free_port()
    with (
        sim_cabinet("chilled-4shelf", seed=24) as sim,
        gateway(cab, sim, mosquitto, tmp_path, keys_dir, metrics),
    ):
        gateway_online(cloud, cab)
        command = unlock_command(cab, keys, session_id="lied-to")
        cloud.send(cab, command)
        wait_until(lambda: cloud.ack_for(command.command_id), 5, "the ack")
        wait_until(lambda: sim.post("/doors/0/open").status_code == 200, 5, "the door")
        wait_until(lambda: cloud.of_kind("door"), 5, "the door opened event")
        sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 1})
        # Valid CRCs, impossible content: the scale board claims the door shut; the lock board
        # reports a door it does not have, with the session's tag.
        lie(sim, "status_from_scale", "ghost_door", "stray_reply")
        time.sleep(3)  # dozens of polls
        assert not cloud.of_kind("session_result")  # the door is open: nothing settles
        assert all(e.door == 0 for e in cloud.of_kind("door"))
        wait_until(
            lambda: total(metrics, BUS_ERRORS, reason="unexpected_answer") > 0, 10, "the STATUS lie seen"
        )
        wait_until(lambda: total(metrics, BUS_ERRORS, reason="unknown_door") > 0, 10, "the ghost door seen")
        wait_until(lambda: total(metrics, BUS_ERRORS, reason="stray_frame") > 0, 10, "the stray replies seen")
        assert not cloud.of_kind("session_result")  # the door is open: nothing settles
        assert all(e.door == 0 for e in cloud.of_kind("door"))
        lie(sim)
        sim.post("/doors/0/close")
        wait_until(lambda: cloud.of_kind("session_result"), 15, "the honest result")
        (result,) = cloud.of_kind("session_result")
        assert result.session_id == "lied-to"
        assert lanes_of(result) == {(1, 0, "coke-330", -1)}
        assert all(e.door == 0 for e in cloud.of_kind("door"))
        assert total(metrics, INTERNAL) == 0
        # Ops see which boards lied: per-board bus errors in telemetry.
        health = {b["addr"]: b["errors"] for b in cloud.telemetry[-1]["boards"]}
        assert health[0x10] > 0
        assert health[0x20] > 0


def test_impossible_weights_and_channels_never_reach_telemetry(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    cab, metrics = "CAB-HEAVY", free_port()
    with (
        sim_cabinet("chilled-4shelf", seed=25) as sim,
        gateway(cab, sim, mosquitto, tmp_path, keys_dir, metrics),
    ):
        gateway_online(cloud, cab)
        lie(sim, "impossible_weight")
        wait_until(lambda: total(metrics, BUS_ERRORS, reason="impossible_weight") > 0, 10, "2,000 kg refused")
        lie(sim, "extra_channel")
        wait_until(lambda: total(metrics, BUS_ERRORS, reason="channel_count") > 0, 10, "channel 4 refused")
        seen = len(cloud.telemetry)
        wait_until(lambda: len(cloud.telemetry) > seen + 1, 5, "telemetry going on")
        for sample in cloud.telemetry:
            assert {w["channel"] for w in sample["weights"]} <= {0, 1, 2, 3}
            assert all(abs(w["grams"]) < 100_000 for w in sample["weights"])
        lie(sim)
        unlock_and_shop(cloud, sim, cab, keys, "after-the-lies")
