"""Ingest over a real Mosquitto: nothing lost, nothing stored twice, even past the broker's queue."""

from __future__ import annotations

import threading
import time
import uuid
from datetime import timedelta
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.models import Cabinet, ProcessedEvent
from cloud.ingest.worker import IngestWorker
from protocols.mqtt.schemas import DoorEvent, EvAck, encode, parse
from protocols.mqtt.topics import Channel, topic

CAB = "XH-0002"
EVENTS = 1500
WINDOW = 200


class GatewaySide:
    """What the gateway's outbox does: keep every event until evack covers it, re-send the rest."""

    def __init__(self, port: int) -> None:
        self.events = {
            seq: encode(
                DoorEvent(
                    event_id=uuid.uuid4(),
                    seq=seq,
                    cabinet_id=CAB,
                    door=0,
                    action="opened" if seq % 2 else "closed",
                )
            )
            for seq in range(1, EVENTS + 1)
        }
        self.acked = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.on_connect = lambda c, *a: c.subscribe(topic(CAB, Channel.EVACK), qos=1)
        self.client.on_message = self._on_evack
        self.client.max_queued_messages_set(0)
        self.client.connect("127.0.0.1", port)
        self.client.loop_start()

    def _on_evack(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.acked = max(self.acked, parse(EvAck, message.payload).seq)

    def publish_all(self) -> None:
        for payload in self.events.values():
            self.client.publish(topic(CAB, Channel.EVENTS), payload, qos=1)

    def resend_unacked(self) -> None:
        with self._lock:
            start = self.acked + 1
        for seq in range(start, min(start + WINDOW, EVENTS + 1)):
            self.client.publish(topic(CAB, Channel.EVENTS), self.events[seq], qos=1)

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_events_sent_while_no_worker_runs_are_all_stored_once(
    factory: sessionmaker[Session], mosquitto_factory: Any
) -> None:
    # A tiny broker queue, so the broker itself drops most of what it holds for the workers.
    broker = mosquitto_factory("max_queued_messages 20\n")
    gateway = GatewaySide(broker.port)
    workers: list[IngestWorker] = []
    try:
        gateway.publish_all()  # nobody ingests yet
        time.sleep(0.5)
        workers = [
            IngestWorker(
                mqtt_url=broker.url,
                factory=factory,
                share_group="cloud",
                command_ttl=timedelta(minutes=2),
                name=f"w{n}",
            ).start()
            for n in range(2)  # two workers share the subscription and reorder events
        ]
        deadline = time.monotonic() + 90
        while gateway.acked < EVENTS and time.monotonic() < deadline:
            gateway.resend_unacked()
            time.sleep(1.0)
        assert gateway.acked == EVENTS
    finally:
        for worker in workers:
            worker.stop()
        gateway.close()
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        assert cabinet.acked_seq == EVENTS
        stored = db.scalar(
            select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.cabinet_id == cabinet.id)
        )
        assert stored == EVENTS  # each exactly once
        assert sum(w.stored for w in workers) >= EVENTS
