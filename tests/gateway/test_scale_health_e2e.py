"""A drifting load cell on the simulated cabinet: the gateway's alarm with its g/h, then a tare
through a signed command, then healthy again from the readings after it."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from firmware_sim.demo.servers import MosquittoServer
from protocols.mqtt.schemas import Command, TareAction
from protocols.signing import KeyPair, load_private_key, sign_command
from tests.gateway.test_gateway_e2e import gateway_online, planogram_file
from tests.harness import StandInCloud, gateway_process, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = pytest.mark.slow

DRIFT_G_PER_H = 3600.0  # a gram a second: measurable in the seconds a test may take
# The estimator's windows shrunk to seconds; the limits scaled with them (a healthy cell's slope
# over 20 s of 0.8 g noise scatters by about 50 g/h).
FAST_HEALTH = {
    "VF_SENSORS_IDLE_S": "0.2",
    "VF_SCALE_DRIFT_LIMIT_G_PER_H": "600",
    "VF_SCALE_CREEP_LIMIT_G": "1000",
    "VF_SCALE_CREEP_S": "1",
    "VF_SCALE_MIN_SPAN_S": "20",
    "VF_SCALE_WINDOW_S": "30",
}


def tare_command(cabinet_id: str, keys: KeyPair, channel: int) -> Command:
    now = datetime.now(UTC)
    command = Command(
        command_id=uuid.uuid4(),
        cabinet_id=cabinet_id,
        ts=now,
        expires_at=now + timedelta(seconds=60),
        body=TareAction(channel=channel),
    )
    return sign_command(command, load_private_key(keys.private_pem))


def scale_alarms(cloud: StandInCloud, state: str, channel: int | None = None) -> list:  # type: ignore[type-arg]
    return [
        a
        for a in cloud.of_kind("alarm")
        if a.alarm == "scale_drift" and a.state == state and channel in (None, a.channel)
    ]


def health_of(cloud: StandInCloud, channel: int) -> dict | None:  # type: ignore[type-arg]
    for sample in reversed(cloud.telemetry):
        for scale in sample.get("scales", []):
            if scale["channel"] == channel:
                return scale  # type: ignore[no-any-return]
    return None


def test_a_drifting_scale_raises_its_alarm_and_is_healthy_after_a_tare(  # and a gateway restart
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    with (
        sim_cabinet("chilled-4shelf", seed=12, faults=f"drift=1:{DRIFT_G_PER_H}") as sim,
        gateway_process(
            "CAB-D",
            sim.serial,
            mosquitto.url,
            tmp_path / "gw",
            keys_dir,
            planogram_file(tmp_path),
            FAST_HEALTH,
        ) as gateway,
    ):
        gateway_online(cloud, "CAB-D")
        wait_until(lambda: scale_alarms(cloud, "raised"), 90, "the scale_drift alarm")
        (raised,) = scale_alarms(cloud, "raised")
        assert raised.channel == 1, "only the drifting channel"
        assert raised.scale is not None
        assert raised.scale.drift_g_per_h is not None
        assert 0.7 * DRIFT_G_PER_H < raised.scale.drift_g_per_h < 1.3 * DRIFT_G_PER_H
        wait_until(
            lambda: (health_of(cloud, 1) or {}).get("verdict") == "degrading", 10, "health in telemetry"
        )
        assert (health_of(cloud, 0) or {}).get("verdict") == "ok"

        # The gateway that raised it restarts: the one after it never raised it, and must still clear it.
        gateway.stop()
        seen = len(cloud.telemetry)
        gateway.start()
        wait_until(lambda: len(cloud.telemetry) > seen, 60, "the restarted gateway's telemetry")
        command = tare_command("CAB-D", keys, channel=1)
        cloud.send("CAB-D", command)
        wait_until(
            lambda: any(a.status == "done" for a in cloud.ack_for(command.command_id)), 10, "tare done"
        )
        assert not scale_alarms(cloud, "cleared", channel=1), "a tare alone proves nothing"

        wait_until(lambda: scale_alarms(cloud, "cleared", channel=1), 60, "healthy again from the readings")
        measured = lambda: (health_of(cloud, 1) or {}).get("drift_g_per_h") is not None  # noqa: E731
        wait_until(measured, 10, "the new drift figure in telemetry")
        health = health_of(cloud, 1)
        assert health is not None
        assert health["verdict"] == "ok"
        assert abs(health["drift_g_per_h"]) < 600
        assert {a.channel for a in scale_alarms(cloud, "raised")} == {1}


def test_a_noisy_and_a_stuck_cell_raise_their_alarms_with_figures(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    with (
        sim_cabinet("chilled-4shelf", seed=13, faults="noisy=2:15,stuck_channel=3") as sim,
        gateway_process(
            "CAB-N",
            sim.serial,
            mosquitto.url,
            tmp_path / "gw",
            keys_dir,
            planogram_file(tmp_path),
            FAST_HEALTH,
        ),
    ):
        gateway_online(cloud, "CAB-N")

        def raised() -> dict[str, list[int]]:
            found: dict[str, list[int]] = {}
            for a in cloud.of_kind("alarm"):
                if a.state == "raised" and a.alarm.startswith("scale_"):
                    found.setdefault(a.alarm, []).append(a.channel)
            return found

        wait_until(lambda: {"scale_noise", "scale_stuck"} <= raised().keys(), 60, "both alarms")
        assert raised() == {"scale_noise": [2], "scale_stuck": [3]}
        (noise,) = [a for a in cloud.of_kind("alarm") if a.alarm == "scale_noise" and a.state == "raised"]
        assert noise.scale is not None
        assert noise.scale.noise_g is not None
        assert 0.6 * 15 < noise.scale.noise_g < 1.5 * 15  # σ 15 g injected, from 30 or more readings
        wait_until(lambda: (health_of(cloud, 3) or {}).get("verdict") == "failing", 10, "stuck in telemetry")
