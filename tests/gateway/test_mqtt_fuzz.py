"""MQTT payload fuzz into a live gateway: real Mosquitto, the simulator on a pty, the gateway process.

A few hundred mutated and random payloads (seeded: the same ones every run) on the cabinet's cmd,
config and evack topics, some retained. Afterwards the gateway must be alive, must have counted
what it dropped, must never have needed its last-resort exception guard, and must still open the
door for a valid signed unlock and report the session.
"""

from __future__ import annotations

import json
import random
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from firmware_sim.demo.servers import MosquittoServer, free_port
from firmware_sim.layout import load_layout, planogram_of
from protocols.mqtt.schemas import CabinetSettings, Command, Config, EvAck, TareAction, encode
from protocols.mqtt.topics import Channel, topic
from protocols.signing import KeyPair, load_private_key, sign
from tests.gateway.hostile import publisher, send, total
from tests.gateway.test_gateway_e2e import gateway_online
from tests.gateway.test_hostile import gateway, unlock_and_shop
from tests.harness import StandInCloud, wait_until
from tests.sim_fixture import sim_cabinet

pytestmark = pytest.mark.slow
SEED = 10
PAYLOADS = 300
HOSTILE_VALUES: list[Any] = [
    2**63, 2**64, -1, -(2**63) - 1, 0, 1e308, -1e308, "x", "x" * 50_000, "", "\u0000", "\ud800",
    None, True, [], {}, [[[[[]]]]], {"a": {"b": {"c": 1}}}, "2026-13-45T99:99:99Z", "0001-01-01T00:00:00Z",
    "9999-12-31T23:59:59+14:00", "00000000-0000-0000-0000-000000000000", "unlock", "tare",
]  # fmt: skip


def seeds(cabinet: str, keys: KeyPair) -> dict[Channel, bytes]:
    """Valid signed payloads to mutate: a tare (harmless if left intact), a config, an evack."""
    key = load_private_key(keys.private_pem)
    now = datetime.now(UTC)
    tare = Command(
        command_id=uuid.uuid4(), cabinet_id=cabinet, ts=now, expires_at=now + timedelta(minutes=5),
        body=TareAction(channel=0),
    )  # fmt: skip
    fast = CabinetSettings(telemetry_interval_s=1, door_open_timeout_s=4, settle_timeout_s=6)
    config = Config(
        version=1, cabinet_id=cabinet, planogram=planogram_of(load_layout("chilled-4shelf")), settings=fast
    )
    return {
        Channel.CMD: encode(sign(tare, key)),
        Channel.CONFIG: encode(sign(config, key)),
        Channel.EVACK: encode(EvAck(seq=0)),
    }


def mutate(rng: random.Random, seed: bytes) -> bytes:
    """One hostile payload: a JSON-level change, a byte-level change, or plain noise."""
    roll = rng.random()
    if roll < 0.5:
        return _mutate_json(rng, json.loads(seed))
    if roll < 0.9:
        return _mutate_bytes(rng, bytearray(seed))
    return rng.randbytes(rng.choice([0, 1, 10, 1000, 60_000]))


def _mutate_json(rng: random.Random, doc: Any) -> bytes:
    node = doc
    while isinstance(node, dict | list) and node and rng.random() < 0.6:
        key = rng.choice(list(node)) if isinstance(node, dict) else rng.randrange(len(node))
        if not isinstance(node[key], dict | list) or not node[key]:
            break
        node = node[key]
    if isinstance(node, dict) and node:
        key = rng.choice(list(node))
        if rng.random() < 0.2:
            del node[key]
        else:
            node[key if rng.random() < 0.9 else "extra"] = rng.choice(HOSTILE_VALUES)
    elif isinstance(node, list):
        node.append(rng.choice(HOSTILE_VALUES))
    return json.dumps(doc).encode()


def _mutate_bytes(rng: random.Random, raw: bytearray) -> bytes:
    for _ in range(rng.randint(1, 8)):
        at = rng.randrange(len(raw) + 1)
        match rng.randrange(4):
            case 0 if raw:
                raw[min(at, len(raw) - 1)] ^= 1 << rng.randrange(8)
            case 1:
                raw[at:at] = rng.randbytes(rng.randint(1, 20))
            case 2:
                del raw[at : at + rng.randint(1, 50)]
            case _:
                raw[at:at] = raw[: rng.randint(1, 100)]
    return bytes(raw)


def test_fuzzed_payloads_on_cmd_config_and_evack_never_stop_the_gateway(
    tmp_path: Path, mosquitto: MosquittoServer, cloud: StandInCloud, keys: KeyPair, keys_dir: Path
) -> None:
    cab, metrics = "CAB-FUZZ", free_port()
    rng = random.Random(SEED)
    originals = seeds(cab, keys)
    with (
        publisher(mosquitto.port) as fuzzer,
        sim_cabinet("chilled-4shelf", seed=31) as sim,
        gateway(cab, sim, mosquitto, tmp_path, keys_dir, metrics) as gw,
    ):
        gateway_online(cloud, cab)
        try:
            for _ in range(PAYLOADS):
                channel = rng.choice(list(originals))
                send(fuzzer, topic(cab, channel), mutate(rng, originals[channel]), retain=rng.random() < 0.05)
            wait_until(
                lambda: total(metrics, "vendfleet_gateway_inbound_dropped") >= PAYLOADS * 0.8, 30, "drops"
            )
        finally:
            for channel in originals:
                send(fuzzer, topic(cab, channel), b"", retain=True)
        assert gw.proc is not None
        assert gw.proc.poll() is None
        assert total(metrics, "vendfleet_gateway_internal_errors") == 0
        seen = len(cloud.telemetry)
        wait_until(lambda: len(cloud.telemetry) > seen + 1, 10, "telemetry going on")
        unlock_and_shop(cloud, sim, cab, keys, "after-the-fuzz")
        assert [e.action for e in cloud.of_kind("door")][-2:] == ["opened", "closed"]
