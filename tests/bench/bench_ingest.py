"""Ingest on PostgreSQL at the size of a city: telemetry per worker, and events with 1 and 2 workers.

Workers run as `vendfleet cloud ingest` processes sharing one subscription group, as deployed; the
senders play many cabinets (so workers do not wait on one cabinet's lock) with the outbox's window.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select

from cloud.db.engine import make_engine, session_factory
from cloud.db.models import CabinetTelemetry, TemperatureMinute
from firmware_sim.demo.servers import MosquittoServer, PostgresServer, terminate
from firmware_sim.fleet import FleetOptions
from protocols.mqtt.schemas import DoorEvent, DoorReading, EvAck, Telemetry, encode, parse
from protocols.mqtt.topics import Channel, topic
from tests.bench.bench_mqtt import raw_throughput
from tests.bench.city import populate
from tests.bench.report import Figure

CABINETS = 1_000
SAMPLES = 10_000  # telemetry messages, ten per cabinet
SENDERS = 20  # cabinets sending events at once
EVENTS_EACH = 200
WINDOW = 200
VENDFLEET = str(Path(sys.executable).parent / "vendfleet")


def _client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(WINDOW)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def _workers(n: int, db_url: str, broker: MosquittoServer, tmp: Path) -> list[subprocess.Popen[bytes]]:
    argv = [VENDFLEET, "cloud", "ingest", "--db", db_url, "--mqtt", broker.url, "--key-dir", str(tmp)]
    group = f"bench{uuid.uuid4().hex[:4]}"
    procs = [
        subprocess.Popen(
            [*argv, "--share-group", group], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL
        )
        for _ in range(n)
    ]
    time.sleep(4)  # imports, connect, subscribe
    return procs


def telemetry_rate(db_url: str, broker: MosquittoServer, tmp: Path) -> float:
    """Telemetry messages stored (latest state and minute roll-ups) per second by one worker."""
    engine = make_engine(db_url)
    factory = session_factory(engine)
    procs = _workers(1, db_url, broker, tmp)
    sender = _client(broker.port)
    t0 = datetime.now(UTC).replace(second=0, microsecond=0)
    payloads = [
        (
            topic(f"SIM-{n % CABINETS:05d}", Channel.TELEMETRY),
            encode(
                Telemetry(
                    ts=t0 + timedelta(minutes=n // CABINETS),
                    temperatures_c=[4.0 + n % 7 / 10, 4.5],
                    doors=[DoorReading(door=0, open=False, locked=True)],
                )
            ),
        )
        for n in range(SAMPLES)
    ]
    start = time.perf_counter()
    for name, payload in payloads:
        sender.publish(name, payload, qos=1)
    stored = 0
    while stored < SAMPLES and time.perf_counter() - start < 180:
        time.sleep(0.2)
        with factory() as db:  # each sample is one roll-up row's `samples` (one minute per round)
            stored = (
                db.scalar(
                    select(func.coalesce(func.sum(TemperatureMinute.samples), 0)).where(
                        TemperatureMinute.probe == 0
                    )
                )
                or 0
            )
    elapsed = time.perf_counter() - start
    with factory() as db:
        assert db.scalar(select(func.count()).select_from(CabinetTelemetry)) == CABINETS
    sender.loop_stop()
    sender.disconnect()
    for proc in procs:
        terminate(proc)
    engine.dispose()
    return stored / elapsed


def events_rate(workers: int, db_url: str, broker: MosquittoServer, tmp: Path, first_seq: int) -> float:
    """Door events stored once and evacked per second, SENDERS cabinets at once, `workers` processes."""
    procs = _workers(workers, db_url, broker, tmp)
    codes = [f"SIM-{n:05d}" for n in range(SENDERS)]
    acked = dict.fromkeys(codes, first_seq - 1)
    last = first_seq + EVENTS_EACH - 1
    done = threading.Event()

    def on_evack(client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        code = message.topic.split("/")[2]
        acked[code] = max(acked[code], parse(EvAck, bytes(message.payload)).seq)
        if all(seq >= last for seq in acked.values()):
            done.set()

    sender = _client(broker.port)
    sender.on_message = on_evack
    sender.subscribe([(topic(c, Channel.EVACK), 1) for c in codes])
    time.sleep(0.5)
    queue = [
        (
            code,
            seq,
            encode(DoorEvent(event_id=uuid.uuid4(), seq=seq, cabinet_id=code, door=0, action="opened")),
        )
        for seq in range(first_seq, last + 1)
        for code in codes
    ]
    sent = dict.fromkeys(codes, first_seq - 1)
    start = time.perf_counter()
    pending = list(queue)
    while not done.is_set() and time.perf_counter() - start < 180:
        held = []
        for code, seq, payload in pending:
            if seq - acked[code] <= WINDOW and seq == sent[code] + 1:
                sender.publish(topic(code, Channel.EVENTS), payload, qos=1)
                sent[code] = seq
            else:
                held.append((code, seq, payload))
        pending = held
        time.sleep(0.002)
    elapsed = time.perf_counter() - start
    sender.loop_stop()
    sender.disconnect()
    for proc in procs:
        terminate(proc)
    return sum(seq - first_seq + 1 for seq in acked.values()) / elapsed


def run() -> list[Figure]:
    broker = MosquittoServer().start()
    postgres = PostgresServer().start()
    try:
        with tempfile.TemporaryDirectory() as keys:
            floor = raw_throughput(broker.port)
            db_url = postgres.create_database("bench_city_ingest")
            populate(db_url, FleetOptions(cabinets=CABINETS, mqtt_url=broker.url))
            telemetry = telemetry_rate(db_url, broker, Path(keys))
            one = events_rate(1, db_url, broker, Path(keys), first_seq=1)
            two = events_rate(2, db_url, broker, Path(keys), first_seq=EVENTS_EACH + 1)
    finally:
        postgres.cleanup()
        broker.cleanup()
    raw = "raw QoS 1 through Mosquitto"
    return [
        Figure(
            "telemetry stored (latest + roll-up), PostgreSQL, 1 worker", "msg/s", telemetry, raw, floor, True
        ),
        Figure(
            f"events stored + evacked, PostgreSQL, 1 worker, {SENDERS} cabinets",
            "msg/s",
            one,
            raw,
            floor,
            True,
        ),
        Figure(
            f"events stored + evacked, PostgreSQL, 2 workers (shared subscription), {SENDERS} cabinets",
            "msg/s",
            two,
            "the same with 1 worker",
            one,
            True,
        ),
    ]
