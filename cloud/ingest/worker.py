"""One ingest worker: paho's thread queues messages, this worker's thread applies them."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import paho.mqtt.client as mqtt
import structlog
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
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
# Errors that may pass (a restarted database, a race another worker won): not acknowledged, so the
# gateway sends the event again. An event failing this often is a poison message instead.
TRANSIENT = (OperationalError, InterfaceError, IntegrityError)
MAX_ATTEMPTS = 5
HEARTBEAT_S = 30.0  # a worker whose loop has not turned for this long is reported dead


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
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._thresholds = thresholds or Thresholds()
        self._influx = influx
        self._attempts: dict[str, int] = {}
        self._beat = time.monotonic()
        self.name = name
        self.stored = 0
        self.telemetry = 0
        self.handled = 0
        self.failures = 0

    def start(self) -> IngestWorker:
        self._client.loop_start()
        self._thread.start()
        return self

    def connected(self) -> bool:
        return self._subscribed.is_set()

    def alive(self) -> bool:
        """For /healthz: the loop is running and has turned recently."""
        fresh = time.monotonic() - self._beat < HEARTBEAT_S
        return self._thread.is_alive() and not self._stop.is_set() and fresh

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(10)
        self._client.loop_stop()
        self._client.disconnect()
        self._publisher.close()
        if self._influx is not None:
            self._influx.close()

    def _on_connect(self, client: mqtt.Client, *args: object) -> None:
        client.subscribe([(fleet_filter(c, self._share), 1) for c in SUBSCRIBED])

    def _work(self) -> None:
        next_sweep = 0.0
        while not self._stop.is_set():
            self._beat = time.monotonic()
            try:
                message = self._inbox.get(timeout=0.2)
            except queue.Empty:
                message = None
            if message is not None:
                self._handle(message)
            if time.monotonic() > next_sweep:
                next_sweep = time.monotonic() + 5
                self._guarded("sweep", self._sweep)

    def _sweep(self) -> None:
        with transaction(self._factory) as db:
            sessions.expire_stale(db, self._payments, self._ttl)
            telemetry.sweep(db, self._thresholds)

    def _guarded(self, what: str, work: Callable[[], object]) -> None:
        """No exception may end the worker's thread: log it, count it, go on with the next message."""
        try:
            work()
        except (ProtocolError, CloudError) as exc:
            log.warning("dropped message", what=what, error=str(exc))
        except SQLAlchemyError as exc:
            # Not committed, so not acknowledged: the gateway sends it again.
            log.error("database refused a message", what=what, error=str(exc))
        except Exception:
            self.failures += 1
            metrics.INGEST_FAILURES.inc()
            log.exception("ingest failed on a message and dropped it", what=what)

    def _handle(self, message: mqtt.MQTTMessage) -> None:
        payload = bytes(message.payload)
        self._guarded(message.topic, lambda: self._dispatch(message.topic, payload))
        self.handled += 1

    def _dispatch(self, topic: str, payload: bytes) -> None:
        where = parse_topic(topic)
        if where.channel is Channel.EVENTS:
            self._event(where.cabinet_id, payload)
        elif where.channel is Channel.STATUS:
            with transaction(self._factory) as db:
                ingest.on_status(db, where.cabinet_id, parse(Status, payload))
        elif where.channel is Channel.ACK:
            with transaction(self._factory) as db:
                latency = ingest.on_ack(db, where.cabinet_id, parse(Ack, payload), self._payments)
            if latency is not None:
                metrics.UNLOCK_LATENCY.observe(latency)
        elif where.channel is Channel.TELEMETRY:
            self._telemetry(where.cabinet_id, parse(Telemetry, payload))

    def _retry(self, event_id: str) -> bool:
        """True while a transiently failing event may still be retried by its resend."""
        if len(self._attempts) > 10_000:
            self._attempts.clear()  # bounded memory; a poison event just gets a few more tries
        self._attempts[event_id] = self._attempts.get(event_id, 0) + 1
        return self._attempts[event_id] < MAX_ATTEMPTS

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
        try:
            with transaction(self._factory) as db:
                before = db.get(ProcessedEvent, str(event.event_id)) is not None
                acked = ingest.store_event(db, cabinet, event, self._payments)
        except CloudError:
            raise
        except Exception as exc:
            if isinstance(exc, TRANSIENT) and self._retry(str(event.event_id)):
                raise
            self.failures += 1
            metrics.INGEST_FAILURES.inc()
            log.exception("event set aside as a dead letter", cabinet=cabinet, seq=event.seq)
            with transaction(self._factory) as db:
                acked = ingest.dead_letter(db, cabinet, event, f"{type(exc).__name__}: {exc}"[:500])
            before = True
        self._attempts.pop(str(event.event_id), None)
        self.stored += 1
        if before:
            metrics.DUPLICATES.inc()
        else:
            metrics.EVENTS.labels(event.kind).inc()
            metrics.INGEST_LAG.observe((datetime.now(UTC) - event.ts).total_seconds())
        # Only now, committed, may the gateway forget it.
        self._publisher.publish(cabinet, Channel.EVACK, EvAck(seq=acked))
