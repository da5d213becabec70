"""Harness for gateway and end-to-end tests: keys, a gateway process, a stand-in cloud."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.demo.servers import terminate
from protocols.mqtt.schemas import Ack, Command, EvAck, UnlockAction, encode, parse, parse_event
from protocols.mqtt.topics import Channel, parse_topic, topic
from protocols.signing import KeyPair, generate_keypair, load_private_key, sign_command

# Fast timings so a session takes a second or two, not a minute.
FAST_GATEWAY_ENV = {
    "VF_POLL_FAST_S": "0.05",
    "VF_POLL_IDLE_S": "0.1",
    "VF_SENSORS_IDLE_S": "0.5",
    "VF_EVACK_TIMEOUT_S": "2",
    "VF_SCAN_ADDRESSES": "[16, 32, 33, 48]",
}


def wait_until(predicate: Callable[[], object], timeout: float = 15.0, what: str = "condition") -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError(f"timed out after {timeout}s waiting for {what}")


def write_keys(directory: Path) -> KeyPair:
    pair = generate_keypair()
    directory.mkdir(parents=True, exist_ok=True)
    (directory / "private.pem").write_bytes(pair.private_pem)
    (directory / "public.pem").write_bytes(pair.public_pem)
    return pair


def unlock_command(
    cabinet_id: str,
    keys: KeyPair,
    *,
    door: int = 0,
    session_id: str | None = None,
    mode: str = "resident",
    issued: datetime | None = None,
    life_s: float = 60,
) -> Command:
    now = issued or datetime.now(UTC)
    body = UnlockAction(door=door, session_id=session_id or uuid.uuid4().hex[:12], mode=mode)  # type: ignore[arg-type]
    expires = now + timedelta(seconds=life_s)
    command = Command(command_id=uuid.uuid4(), cabinet_id=cabinet_id, ts=now, expires_at=expires, body=body)
    return sign_command(command, load_private_key(keys.private_pem))


@dataclass
class GatewayProcess:
    argv: list[str]
    env: dict[str, str]
    log: Path
    proc: subprocess.Popen[bytes] | None = None

    def start(self) -> GatewayProcess:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(self.argv, env=self.env, stdout=log, stderr=subprocess.STDOUT)
        return self

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait()

    def stop(self) -> None:
        if self.proc:
            terminate(self.proc)


@contextmanager
def gateway_process(
    cabinet_id: str,
    serial: str,
    mqtt_url: str,
    data_dir: Path,
    keys_dir: Path,
    planogram: Path | None = None,
    extra_env: dict[str, str] | None = None,
) -> Iterator[GatewayProcess]:
    argv = [
        sys.executable,
        "-m",
        "gateway",  # the lean entry point a board runs (deploy/gateway/vendfleet-gateway.service)
        "--cabinet-id",
        cabinet_id,
        "--serial",
        serial,
        "--mqtt",
        mqtt_url,
        "--data-dir",
        str(data_dir),
        "--cloud-key",
        str(keys_dir / "public.pem"),
    ]
    if planogram:
        argv += ["--planogram", str(planogram)]
    env = {**os.environ, **FAST_GATEWAY_ENV, **(extra_env or {})}
    data_dir.mkdir(parents=True, exist_ok=True)
    gateway = GatewayProcess(argv, env, data_dir / "gateway.log").start()
    try:
        yield gateway
    finally:
        gateway.stop()


@dataclass
class StandInCloud:
    """Plays the cloud's side of the MQTT contract: stores events once, acknowledges with evack."""

    port: int
    acknowledge: bool = True
    events: dict[str, Any] = field(default_factory=dict)  # event_id → event, each once
    arrivals: list[Any] = field(default_factory=list)  # every delivery, duplicates included
    acks: list[Ack] = field(default_factory=list)
    statuses: list[tuple[str, str]] = field(default_factory=list)
    telemetry: list[dict[str, Any]] = field(default_factory=list)
    _highest: dict[str, int] = field(default_factory=dict)
    _seqs: dict[str, set[int]] = field(default_factory=dict)
    _lock: threading.Lock = field(default_factory=threading.Lock)

    def __post_init__(self) -> None:
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe(
            [(f"vf/v1/+/{ch}", 1) for ch in ("events", "ack", "status", "telemetry")]
        )
        self.client.on_message = self._on_message
        self.client.reconnect_delay_set(0.2, 1)
        self.client.connect("127.0.0.1", self.port)
        self.client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        where = parse_topic(message.topic)
        if where.channel is Channel.EVENTS:
            self._on_event(where.cabinet_id, message.payload)
        elif where.channel is Channel.ACK:
            self.acks.append(parse(Ack, message.payload))
        elif where.channel is Channel.STATUS:
            self.statuses.append((where.cabinet_id, json.loads(message.payload)["state"]))
        elif where.channel is Channel.TELEMETRY:
            self.telemetry.append(json.loads(message.payload))

    def _on_event(self, cabinet_id: str, payload: bytes) -> None:
        event = parse_event(payload)
        with self._lock:
            self.arrivals.append(event)
            self.events.setdefault(str(event.event_id), event)
            seqs = self._seqs.setdefault(cabinet_id, set())
            seqs.add(event.seq)
            high = self._highest.get(cabinet_id, 0)
            while high + 1 in seqs:
                high += 1
            self._highest[cabinet_id] = high
        if self.acknowledge:
            client_topic = topic(cabinet_id, Channel.EVACK)
            self.client.publish(client_topic, encode(EvAck(seq=high)), qos=1)

    def of_kind(self, kind: str) -> list[Any]:
        with self._lock:
            return sorted((e for e in self.events.values() if e.kind == kind), key=lambda e: e.seq)

    def ack_for(self, command_id: uuid.UUID) -> list[Ack]:
        return [a for a in self.acks if a.command_id == command_id]

    def send(self, cabinet_id: str, command: Command) -> None:
        self.client.publish(topic(cabinet_id, Channel.CMD), encode(command), qos=1).wait_for_publish(5)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()
