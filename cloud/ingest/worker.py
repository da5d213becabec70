"""One ingest worker: paho's thread queues messages, this worker's thread applies them."""

from __future__ import annotations

import queue
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial

import paho.mqtt.client as mqtt
import structlog
from sqlalchemy import select
from sqlalchemy.exc import IntegrityError, InterfaceError, OperationalError, SQLAlchemyError
from sqlalchemy.orm import Session, selectinload, sessionmaker

from cloud import CloudError, NotFound, metrics
from cloud.db.bulk import among
from cloud.db.engine import transaction
from cloud.db.models import Cabinet
from cloud.domain import ingest, sessions, telemetry
from cloud.domain.ingest import Event
from cloud.influx import InfluxSink
from cloud.mqtt import Publisher, new_client
from cloud.settings import INGEST_BATCH_MAX
from protocols import ProtocolError
from protocols.mqtt.broker_url import BrokerAddress
from protocols.mqtt.schemas import Ack, EvAck, Status, Telemetry, parse, parse_event
from protocols.mqtt.topics import Channel, fleet_filter, parse_topic

log = structlog.get_logger("cloud.ingest")
SUBSCRIBED = (Channel.EVENTS, Channel.STATUS, Channel.ACK, Channel.TELEMETRY)
# Errors that may pass (a restarted database, a race another worker won): not acknowledged, so the
# gateway sends the event again. An event failing this often is a poison message instead.
TRANSIENT = (OperationalError, InterfaceError, IntegrityError)
MAX_ATTEMPTS = 5
HEARTBEAT_S = 30.0  # a worker whose loop has not turned for this long is reported dead


@dataclass
class Batch:
    """Parsed messages of one transaction, and what to do once it has committed."""

    events: list[tuple[str, Event]] = field(default_factory=list)
    statuses: list[tuple[str, Status]] = field(default_factory=list)
    acks: list[tuple[str, Ack]] = field(default_factory=list)
    samples: list[tuple[str, Telemetry]] = field(default_factory=list)
    acked: dict[str, int] = field(default_factory=dict)  # evack per cabinet, sent after commit
    fresh: list[Event] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)
    stores: dict[str, str] = field(default_factory=dict)  # cabinet → store code, for InfluxDB tags


class IngestWorker:
    def __init__(
        self,
        *,
        mqtt_url: str,
        factory: sessionmaker[Session],
        share_group: str | None,
        command_ttl: timedelta,
        name: str = "ingest",
        influx: InfluxSink | None = None,
        username: str | None = None,
        password: str | None = None,
        batch_max: int = INGEST_BATCH_MAX,
    ) -> None:
        self._factory = factory
        self._ttl = command_ttl
        self._share = share_group
        # SimpleQueue (in C): paho's thread puts every message, and its time is the worker's too (one GIL).
        self._inbox: queue.SimpleQueue[mqtt.MQTTMessage] = queue.SimpleQueue()
        self._stop = threading.Event()
        self._publisher = Publisher(mqtt_url, name, username, password)
        address = BrokerAddress.parse(mqtt_url)
        client_id = f"vf-cloud-{name}-{uuid.uuid4().hex[:6]}"
        self._client = new_client(client_id, address, username, password)
        self._client.on_connect = self._on_connect
        self._client.on_message = lambda c, u, m: self._inbox.put(m)
        self._client.connect_async(address.host, address.port, keepalive=30)
        self._subscribed = threading.Event()
        self._client.on_subscribe = lambda *a: self._subscribed.set()
        self._thread = threading.Thread(target=self._work, name=name, daemon=True)
        self._influx = influx
        self._attempts: dict[str, int] = {}
        self._batch_max = batch_max
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
            self._beat = time.monotonic()
            messages = self._drain()
            if len(messages) == 1:
                self._handle(messages[0])
            elif messages:
                self._handle_batch(messages)
            if time.monotonic() > next_sweep:
                next_sweep = time.monotonic() + 5
                self._guarded("sweep", self._sweep)

    def _drain(self) -> list[mqtt.MQTTMessage]:
        """Whatever is queued now (up to the batch size), waiting only for the first message."""
        try:
            messages = [self._inbox.get(timeout=0.2)]
        except queue.Empty:
            return []
        while len(messages) < self._batch_max:
            try:
                messages.append(self._inbox.get_nowait())
            except queue.Empty:
                break
        return messages

    def _handle_batch(self, messages: list[mqtt.MQTTMessage]) -> None:
        batch = Batch()
        for message in messages:
            self._guarded(message.topic, partial(self._parse_into, batch, message))
        try:
            with transaction(self._factory) as db:
                self._apply(db, batch)
        except Exception as exc:
            # One message spoiled the batch: handle each alone, so only that one is retried or set aside.
            log.warning("batch failed, handling its messages one by one", size=len(messages), error=str(exc))
            for message in messages:
                self._handle(message)
            return
        self._after_commit(batch)
        self.handled += len(messages)

    def _parse_into(self, batch: Batch, message: mqtt.MQTTMessage) -> None:
        where = parse_topic(message.topic)
        payload = bytes(message.payload)
        code = where.cabinet_id
        match where.channel:
            case Channel.EVENTS:
                batch.events.append((code, parse_event(payload)))
            case Channel.STATUS:
                batch.statuses.append((code, parse(Status, payload)))
            case Channel.ACK:
                batch.acks.append((code, parse(Ack, payload)))
            case Channel.TELEMETRY:
                batch.samples.append((code, parse(Telemetry, payload)))

    def _apply(self, db: Session, batch: Batch) -> None:
        if batch.statuses:
            cabinets = _cabinets(db, {code for code, _ in batch.statuses})
            for code, status in batch.statuses:
                ingest.apply_status(db, cabinets[code], status)
        for code, ack in batch.acks:
            latency = ingest.on_ack(db, code, ack)
            if latency is not None:
                batch.latencies.append(latency)
        if batch.events:
            batch.acked, batch.fresh = ingest.store_events(db, batch.events)
        if batch.samples:
            cabinets = _cabinets(db, {code for code, _ in batch.samples})
            known = [(cabinets[code], sample) for code, sample in batch.samples if code in cabinets]
            telemetry.record_many(db, known)
            batch.stores = {code: cabinet.store.code for code, cabinet in cabinets.items()}

    def _after_commit(self, batch: Batch) -> None:
        for latency in batch.latencies:
            metrics.UNLOCK_LATENCY.observe(latency)
        now = datetime.now(UTC)
        for event in batch.fresh:
            metrics.EVENTS.labels(event.kind).inc()
            metrics.INGEST_LAG.observe((now - event.ts).total_seconds())
        metrics.DUPLICATES.inc(len(batch.events) - len(batch.fresh))
        self.stored += len(batch.events)
        self.telemetry += len(batch.samples)
        metrics.TELEMETRY.inc(len(batch.samples))
        if self._influx is not None:
            self._influx.write_many([(code, batch.stores[code], sample) for code, sample in batch.samples])
        # Only now, committed, may the gateways forget their events.
        for code, seq in batch.acked.items():
            self._publisher.publish(code, Channel.EVACK, EvAck(seq=seq))

    def _sweep(self) -> None:
        with transaction(self._factory) as db:
            sessions.expire_stale(db, self._ttl)
            sessions.hand_unchosen_to_ops(db, sessions.CHOOSE_WAIT)
            telemetry.sweep(db)

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
        self._guarded(message.topic, lambda: self._dispatch(message))
        self.handled += 1

    def _dispatch(self, message: mqtt.MQTTMessage) -> None:
        """One message in its own transaction; an event that keeps failing becomes a dead letter."""
        batch = Batch()
        self._parse_into(batch, message)
        if not batch.events:
            with transaction(self._factory) as db:
                self._apply(db, batch)
            self._after_commit(batch)
            return
        code, event = batch.events[0]
        try:
            with transaction(self._factory) as db:
                self._apply(db, batch)
        except CloudError:
            raise
        except Exception as exc:
            if isinstance(exc, TRANSIENT) and self._retry(str(event.event_id)):
                raise
            self.failures += 1
            metrics.INGEST_FAILURES.inc()
            log.exception("event set aside as a dead letter", cabinet=code, seq=event.seq)
            with transaction(self._factory) as db:
                error = f"{type(exc).__name__}: {exc}"[:500]
                batch.acked = {code: ingest.dead_letter(db, code, event, error)}
            batch.fresh = []
        self._attempts.pop(str(event.event_id), None)
        self._after_commit(batch)

    def _retry(self, event_id: str) -> bool:
        """True while a transiently failing event may still be retried by its resend."""
        if len(self._attempts) > 10_000:
            self._attempts.clear()  # bounded memory; a poison event just gets a few more tries
        self._attempts[event_id] = self._attempts.get(event_id, 0) + 1
        return self._attempts[event_id] < MAX_ATTEMPTS


def _cabinets(db: Session, codes: set[str]) -> dict[str, Cabinet]:
    """The senders of a batch's statuses or telemetry with their stores, in one query; unknown ones raise."""
    query = select(Cabinet).where(among(db, Cabinet.code, codes)).options(selectinload(Cabinet.store))
    found = {c.code: c for c in db.scalars(query)}
    if codes - found.keys():
        raise NotFound(f"telemetry from unknown cabinets {sorted(codes - found.keys())!r}")
    return found
