"""Events through the real path (broker → ingest worker → SQLite → evack) against raw broker round trips."""

from __future__ import annotations

import tempfile
import threading
import time
import uuid
from datetime import timedelta

import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.migrate import upgrade
from cloud.domain.fleet import seed
from cloud.ingest.worker import IngestWorker
from firmware_sim.demo.run import FIXTURE as DEMO_FLEET
from firmware_sim.demo.servers import MosquittoServer, PostgresServer
from protocols.mqtt.schemas import DoorEvent, EvAck, encode, parse
from tests.bench.report import Figure

EVENTS = 2000
WINDOW = 200  # the gateway's in-flight bound


def _client(port: int) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.max_inflight_messages_set(WINDOW)
    client.connect("127.0.0.1", port)
    client.loop_start()
    return client


def raw_throughput(port: int) -> float:
    """QoS 1 publish → broker → subscriber, same window: messages per second (the floor)."""
    done = threading.Event()
    got = [0]

    def on_message(*_: object) -> None:
        got[0] += 1
        if got[0] == EVENTS:
            done.set()

    sub = _client(port)
    sub.on_message = on_message
    sub.subscribe("bench/raw", qos=1)
    pub = _client(port)
    time.sleep(0.3)
    start = time.perf_counter()
    for _ in range(EVENTS):
        pub.publish("bench/raw", b"x" * 200, qos=1)
    done.wait(60)
    elapsed = time.perf_counter() - start
    for c in (pub, sub):
        c.loop_stop()
        c.disconnect()
    return EVENTS / elapsed


def ingest_throughput(port: int, db_url: str) -> float:
    """Door events stored once each and acknowledged by evack: events per second."""
    upgrade(db_url)
    engine = make_engine(db_url)
    factory = session_factory(engine)
    with transaction(factory) as db:
        seed(db, yaml.safe_load(DEMO_FLEET.read_text()))
    worker = IngestWorker(
        mqtt_url=f"mqtt://127.0.0.1:{port}",
        factory=factory,
        share_group="cloud",
        command_ttl=timedelta(minutes=2),
    ).start()
    acked = [0]
    done = threading.Event()

    def on_evack(client: object, userdata: object, message: mqtt.MQTTMessage) -> None:
        acked[0] = max(acked[0], parse(EvAck, message.payload).seq)
        if acked[0] >= EVENTS:
            done.set()

    gateway = _client(port)
    gateway.on_message = on_evack
    gateway.subscribe("vf/v1/XH-0001/evack", qos=1)
    time.sleep(0.5)
    payloads = [
        encode(DoorEvent(event_id=uuid.uuid4(), seq=n, cabinet_id="XH-0001", door=0, action="opened"))
        for n in range(1, EVENTS + 1)
    ]
    start = time.perf_counter()
    sent = 0
    while not done.is_set() and time.perf_counter() - start < 120:
        while sent < EVENTS and sent - acked[0] < WINDOW:  # bounded in flight, like the outbox
            gateway.publish("vf/v1/XH-0001/events", payloads[sent], qos=1)
            sent += 1
        time.sleep(0.001)
    elapsed = time.perf_counter() - start
    gateway.loop_stop()
    gateway.disconnect()
    worker.stop()
    engine.dispose()
    return acked[0] / elapsed


def run() -> list[Figure]:
    broker = MosquittoServer().start()
    postgres = PostgresServer().start()
    try:
        floor = raw_throughput(broker.port)
        with tempfile.TemporaryDirectory() as tmp:
            sqlite = ingest_throughput(broker.port, f"sqlite:///{tmp}/bench.db")
        on_postgres = ingest_throughput(broker.port, postgres.create_database("bench_ingest"))
    finally:
        postgres.cleanup()
        broker.cleanup()
    stored = "events stored once and evacked ({}, 1 worker)"
    return [
        Figure(stored.format(db), "msg/s", rate, "raw QoS 1 through Mosquitto", floor, higher_is_better=True)
        for db, rate in (("SQLite", sqlite), ("PostgreSQL", on_postgres))
    ]
