"""The gateway runs on the settings of the config it applied, and says which version that is."""

from __future__ import annotations

import json
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.demo.servers import MosquittoServer
from firmware_sim.layout import load_layout, planogram_of
from protocols.mqtt.schemas import CabinetSettings, Config, encode
from protocols.mqtt.topics import Channel, topic
from protocols.signing import KeyPair, load_private_key, sign
from tests.harness import StandInCloud, gateway_process, unlock_command, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = pytest.mark.slow
CAB = "CAB-S"


def config(version: int, settings: CabinetSettings, cabinet_id: str | None = CAB) -> Config:
    return Config(
        version=version,
        cabinet_id=cabinet_id,
        planogram=planogram_of(load_layout("chilled-4shelf")),
        settings=settings,
    )


class StatusWatch:
    """The cabinet's retained status as the cloud sees it."""

    def __init__(self, port: int) -> None:
        self.seen: list[dict[str, Any]] = []
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe(topic(CAB, Channel.STATUS), qos=1)
        self.client.on_message = lambda c, u, m: self.seen.append(json.loads(m.payload))
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def online_at(self, version: int | None) -> bool:
        return any(s["state"] == "online" and s.get("config_version") == version for s in self.seen)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_new_config_changes_the_session_timing_and_the_reported_version(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    # Commissioned with a patient door timeout: an unopened door would wait half a minute.
    plan = tmp_path / "planogram.json"
    plan.write_bytes(encode(config(1, CabinetSettings(door_open_timeout_s=30, telemetry_interval_s=1), None)))
    watch = StatusWatch(mosquitto.port)
    try:
        with (
            sim_cabinet("chilled-4shelf", seed=7) as sim,
            gateway_process(CAB, sim.serial, mosquitto.url, tmp_path / "gw", keys_dir, plan),
        ):
            wait_until(lambda: watch.online_at(None), 60, "online, commissioned")
            # The cloud's ops changed the cabinet's door timeout: config version 2, signed, retained.
            quick = sign(
                config(2, CabinetSettings(door_open_timeout_s=2, telemetry_interval_s=1)),
                load_private_key(keys.private_pem),
            )
            cloud.client.publish(
                topic(CAB, Channel.CONFIG), encode(quick), qos=1, retain=True
            ).wait_for_publish(5)
            wait_until(lambda: watch.online_at(2), 20, "the status to report config version 2")

            unlocked = time.monotonic()
            cloud.send(CAB, unlock_command(CAB, keys))  # and nobody opens the door
            wait_until(lambda: cloud.of_kind("session_result"), 15, "the session to end unopened")
            took = time.monotonic() - unlocked
            assert cloud.of_kind("session_result")[0].outcome == "not_opened"
            assert took < 10, f"the door waited {took:.1f} s: the old 30 s timeout still ruled"
    finally:
        cloud.client.publish(topic(CAB, Channel.CONFIG), b"", qos=1, retain=True).wait_for_publish(5)
        watch.close()
