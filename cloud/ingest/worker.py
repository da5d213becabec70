"""One ingest worker: paho's thread queues messages, this worker's thread applies them."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import structlog
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session, sessionmaker

from cloud import CloudError, metrics
from cloud.db.engine import transaction
from cloud.db.models import ProcessedEvent
from cloud.domain import ingest, sessions, telemetry
from cloud.domain.fleet import cabinet_by_code
from cloud.domain.payments import PaymentProvider
from cloud.domain.telemetry import Thresholds
from cloud.influx import InfluxSink
from cloud.mqtt import Publisher
from gateway.mqtt_link import BrokerAddress, new_client
from protocols import ProtocolError
from protocols.mqtt.schemas import Ack, EvAck, Status, Telemetry, parse, parse_event
from protocols.mqtt.topics import Channel, fleet_filter, parse_topic

log = structlog.get_logger("cloud.ingest")
SUBSCRIBED = (Channel.EVENTS, Channel.STATUS, Channel.ACK, Channel.TELEMETRY)


class IngestWorker:
    def __init__(
        self,
        *,
        mqtt_url: str,
        factory: sessionmaker[Session],
        payments: PaymentProvider,
        share_group: str | None,
        command_ttl: timedelta,
        name: str = "ingest",
        thresholds: Thresholds | None = None,
        influx: InfluxSink | None = None,
        username: str | None = None,
        password: str | None = None,
    ) -> None:
        self._factory = factory
        self._payments = payments
        self._ttl = command_ttl
        self._share = share_group
        self._inbox: queue.Queue[mqtt.MQTTMessage] = queue.Queue()
        self._stop = threading.Event()
        self._publisher = Publisher(mqtt_url, name, username, password)
        address = BrokerAddress.parse(mqtt_url)
        client_id = f"vf-cloud-{name}-{uuid.uuid4().hex[:6]}"
        self._client = new_client(client_id, tls=address.tls, username=username, password=password)
        self._client.on_connect = self._on_connect
        self._client.on_message = lambda c, u, m: self._inbox.put(m)
        self._client.connect_async(address.host, address.port, keepalive=30)
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thresholds = thresholds or Thresholds()
        self._influx = influx
        self.stored = 0
        self.telemetry = 0

    def start(self) -> IngestWorker:
        self._client.loop_start()
        self._thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        # disconnect() first wakes paho's network thread; loop_stop() alone waits out its 1 s select.
        self._client.disconnect()
        self._client.loop_stop()
        self._publisher.close()
        if self._influx is not None:
            self._influx.close()

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe([(fleet_filter(c, self._share), 1) for c in SUBSCRIBED])

    def _work(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            try:
                message = self._inbox.get(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None:
                self._handle(message)
            if time.monotonic() > next_sweep:
                next_sweep = time.monotonic() + 5
                with transaction(self._factory) as db:
                    sessions.expire_stale(db, self._payments, self._ttl)
                    telemetry.sweep(db, self._thresholds)

    def _handle(self, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        try:
            where = parse_topic(message.topic)
            if where.channel is Channel.EVENTS:
                self._event(where.cabinet_id, payload)
            elif where.channel is Channel.STATUS:
                with transaction(self._factory) as db:
                    ingest.on_status(db, where.cabinet_id, parse(Status, payload))
            elif where.channel is Channel.ACK:
                with transaction(self._factory) as db:
                    latency = ingest.on_ack(db, parse(Ack, payload), self._payments)
                if latency is not None:
                    metrics.UNLOCK_LATENCY.observe(latency)
            elif where.channel is Channel.TELEMETRY:
                self._telemetry(where.cabinet_id, parse(Telemetry, payload))
        except (ProtocolError, CloudError) as exc:
            log.warning("dropped message", topic=message.topic, error=str(exc))
        except SQLAlchemyError as exc:
            # Not committed, so not acknowledged: the gateway sends it again.
            log.error("database refused a message", topic=message.topic, error=str(exc))

    def _telemetry(self, code: str, sample: Telemetry) -> None:
        with transaction(self._factory) as db:
            cabinet = cabinet_by_code(db, code)
            telemetry.record(db, cabinet, sample, self._thresholds)
            store = cabinet.store.code
        self.telemetry += 1
        metrics.TELEMETRY.inc()
        if self._influx is not None:
            self._influx.write(code, store, sample)

    def _event(self, cabinet: str, payload: bytes) -> None:
        event = parse_event(payload)
        with transaction(self._factory) as db:
            before = db.get(ProcessedEvent, str(event.event_id)) is not None
            acked = ingest.store_event(db, cabinet, event, self._payments)
        self.stored += 1
        if before:
            metrics.DUPLICATES.inc()
        else:
            metrics.EVENTS.labels(event.kind).inc()
            metrics.INGEST_LAG.observe((datetime.now(UTC) - event.ts).total_seconds())
        # Only now, committed, may the gateway forget it.
        self._publisher.publish(cabinet, Channel.EVACK, EvAck(seq=acked))
