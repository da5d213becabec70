"""Many cabinets over MQTT at once, as their gateways speak: a load generator for the cloud.

Each cabinet is its own MQTT connection (its retained status and last will are its own), all of them
driven by one thread through paho's external-loop calls on a selector. A cabinet sends telemetry every
interval and door events (a visit: opened, then closed) at a daily curve within store hours; its
events wait in an outbox, re-sent until an `evack` covers them, as the gateway's outbox does.
"""

from __future__ import annotations

import heapq
import math
import random
import selectors
import socket
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import partial
from typing import Literal

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from protocols.mqtt.broker_url import BrokerAddress
from protocols.mqtt.schemas import DoorEvent, DoorReading, EvAck, Status, Telemetry, encode, parse
from protocols.mqtt.topics import Channel, topic

# Visits per hour of the local day, relative: closed at night, peaks at breakfast, lunch and after work.
DAY_CURVE = (0, 0, 0, 0, 0, 0, 0, 2, 5, 4, 3, 4, 6, 4, 3, 3, 4, 6, 8, 7, 5, 3, 2, 0)
LOCAL = timedelta(hours=8)  # the seed city's clock (Shanghai)
TICK_S = 0.02


@dataclass(frozen=True)
class FleetOptions:
    cabinets: int
    mqtt_url: str
    prefix: str = "SIM-"
    rate: float = 40.0  # visits per cabinet per day (the seed city's rate)
    duration_s: float = 60.0
    telemetry_s: float = 60.0
    resend_s: float = 5.0
    window: int = 200  # events in flight per cabinet, like the gateway's outbox
    hour: int | None = None  # play this local hour of the day all along (None: the clock's)
    settle_s: float = 30.0  # after the last visit, how long to wait for evacks
    seed: int = 0

    def code(self, n: int) -> str:
        return f"{self.prefix}{n:05d}"


@dataclass
class Pending:
    payload: bytes
    first_sent: float
    last_sent: float


@dataclass
class Cabinet:
    code: str
    client: mqtt.Client
    seq: int = 0
    outbox: dict[int, Pending] = field(default_factory=dict)
    acked: int = 0


@dataclass
class FleetReport:
    cabinets: int
    connected: int
    seconds: float
    sent: int = 0  # events, each counted once however often re-sent
    acked: int = 0
    resent: int = 0
    telemetry: int = 0
    latencies: list[float] = field(default_factory=list, repr=False)

    def summary(self) -> dict[str, float | int]:
        ordered = sorted(self.latencies)
        return {
            "cabinets": self.cabinets,
            "connected": self.connected,
            "seconds": round(self.seconds, 1),
            "events_sent": self.sent,
            "events_acked": self.acked,
            "events_resent": self.resent,
            "telemetry_sent": self.telemetry,
            "ack_p50_ms": round(_quantile(ordered, 0.50) * 1000, 1),
            "ack_p99_ms": round(_quantile(ordered, 0.99) * 1000, 1),
        }


def _quantile(ordered: list[float], q: float) -> float:
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))] if ordered else math.nan


def visits_per_second(options: FleetOptions, now: datetime) -> float:
    """The whole fleet's visit rate at this moment of the local day."""
    hour = options.hour if options.hour is not None else (now + LOCAL).hour
    share = DAY_CURVE[hour] / sum(DAY_CURVE)  # of a day's visits, in this hour
    return options.cabinets * options.rate * share / 3600


class Fleet:
    def __init__(self, options: FleetOptions) -> None:
        self.options = options
        self._address = BrokerAddress.parse(options.mqtt_url)
        self._selector = selectors.DefaultSelector()
        self._random = random.Random(options.seed)
        self._cabinets: list[Cabinet] = []
        self._timers: list[tuple[float, int, Callable[[], None]]] = []  # (due, order, what)
        self._order = 0
        self._writers: set[mqtt.Client] = set()  # connections with bytes waiting to go out
        self._next_misc = 0.0
        self.report = FleetReport(options.cabinets, 0, 0.0)

    # -- connections -------------------------------------------------------------------------

    def connect(self, timeout_s: float = 120.0) -> None:
        """Every cabinet connected, its last will set, its birth published, evack subscribed."""
        for n in range(self.options.cabinets):
            self._cabinets.append(self._connect(self.options.code(n)))
            if n % 200 == 199:
                self._pump(0)  # let CONNACKs in while the rest connect
        deadline = time.monotonic() + timeout_s
        while self.report.connected < len(self._cabinets) and time.monotonic() < deadline:
            self._pump(TICK_S)

    def _connect(self, code: str) -> Cabinet:
        client = mqtt.Client(
            CallbackAPIVersion.VERSION2, f"sim-{code}-{uuid.uuid4().hex[:4]}", protocol=mqtt.MQTTv311
        )
        client.max_inflight_messages_set(self.options.window)
        client.max_queued_messages_set(0)
        cabinet = Cabinet(code, client)
        offline = encode(Status(state="offline", gateway_version="sim-fleet"))
        client.will_set(topic(code, Channel.STATUS), offline, qos=1, retain=True)
        client.on_connect = lambda c, u, f, rc, p: self._on_connect(cabinet, rc)
        client.on_message = lambda c, u, m: self._on_evack(cabinet, m)
        client.on_socket_open = self._opened
        client.on_socket_register_write = lambda c, u, s: self._writers.add(c)
        client.on_socket_unregister_write = lambda c, u, s: self._writers.discard(c)
        client.connect(self._address.host, self._address.port, keepalive=60)
        return cabinet

    def _opened(self, client: mqtt.Client, userdata: object, sock: object) -> None:
        if isinstance(sock, socket.socket):
            # Small packets at once, as the gateway sends them (Nagle and delayed ACK cost ~40 ms).
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._selector.register(sock, selectors.EVENT_READ, client)

    def _on_connect(self, cabinet: Cabinet, rc: object) -> None:
        if getattr(rc, "is_failure", False):
            return
        self.report.connected += 1
        cabinet.client.subscribe(topic(cabinet.code, Channel.EVACK), qos=1)
        online = encode(Status(state="online", gateway_version="sim-fleet"))
        cabinet.client.publish(topic(cabinet.code, Channel.STATUS), online, qos=1, retain=True)

    def _on_evack(self, cabinet: Cabinet, message: mqtt.MQTTMessage) -> None:
        seq = parse(EvAck, bytes(message.payload)).seq
        now = time.monotonic()
        for done in range(cabinet.acked + 1, seq + 1):
            pending = cabinet.outbox.pop(done, None)
            if pending is not None:
                self.report.acked += 1
                self.report.latencies.append(now - pending.first_sent)
        cabinet.acked = max(cabinet.acked, seq)

    def _pump(self, timeout: float) -> None:
        """One turn of every connection: read what arrived, write what is queued, keep alive."""
        for key, _ in self._selector.select(timeout):
            client: mqtt.Client = key.data
            client.loop_read()
        for client in list(self._writers):
            client.loop_write()
        now = time.monotonic()
        if now >= self._next_misc:
            self._next_misc = now + 1.0
            for cabinet in self._cabinets:
                cabinet.client.loop_misc()

    # -- the day -----------------------------------------------------------------------------

    def _at(self, due: float, what: Callable[[], None]) -> None:
        self._order += 1
        heapq.heappush(self._timers, (due, self._order, what))

    def run(self) -> FleetReport:
        """Play the fleet for duration_s, then wait (up to settle_s) for every event to be acknowledged."""
        start = time.monotonic()
        self.report = FleetReport(self.options.cabinets, self.report.connected, 0.0)
        self._timers.clear()  # a second run plays afresh
        for n, cabinet in enumerate(self._cabinets):  # telemetry spread over the interval
            phase = self.options.telemetry_s * n / max(1, len(self._cabinets))
            self._at(start + phase, partial(self._telemetry, cabinet))
        self._at(start + self.options.resend_s, self._resend)
        end = start + self.options.duration_s
        next_visit = start + self._gap()
        while time.monotonic() < end:
            now = time.monotonic()
            while next_visit <= now:
                self._visit(self._random.choice(self._cabinets))
                next_visit += self._gap()
            self._fire(now)
            self._pump(TICK_S)
        settle = time.monotonic() + self.options.settle_s
        while self.report.acked < self.report.sent and time.monotonic() < settle:
            self._fire(time.monotonic(), only_resends=True)
            self._pump(TICK_S)
        self.report.seconds = time.monotonic() - start
        return self.report

    def _gap(self) -> float:
        rate = visits_per_second(self.options, datetime.now(UTC))
        return self._random.expovariate(rate) if rate > 0 else self.options.duration_s

    def _fire(self, now: float, only_resends: bool = False) -> None:
        while self._timers and self._timers[0][0] <= now:
            _, _, what = heapq.heappop(self._timers)
            if not only_resends or what == self._resend:
                what()

    def _visit(self, cabinet: Cabinet) -> None:
        """A resident opens the door; it closes 20 to 60 s later."""
        door = self._random.randrange(2)
        self._event(cabinet, door, "opened")
        self._at(
            time.monotonic() + self._random.uniform(20, 60), lambda: self._event(cabinet, door, "closed")
        )

    def _event(self, cabinet: Cabinet, door: int, action: Literal["opened", "closed"]) -> None:
        cabinet.seq += 1
        event = DoorEvent(
            event_id=uuid.uuid4(), seq=cabinet.seq, cabinet_id=cabinet.code, door=door, action=action
        )
        now = time.monotonic()
        cabinet.outbox[cabinet.seq] = Pending(encode(event), now, now)
        self.report.sent += 1
        if cabinet.seq - cabinet.acked <= self.options.window:
            cabinet.client.publish(
                topic(cabinet.code, Channel.EVENTS), cabinet.outbox[cabinet.seq].payload, qos=1
            )

    def _resend(self) -> None:
        """Every event not acknowledged within resend_s goes again (the window's worth per cabinet)."""
        now = time.monotonic()
        for cabinet in self._cabinets:
            for seq in sorted(cabinet.outbox)[: self.options.window]:
                pending = cabinet.outbox[seq]
                if now - pending.last_sent >= self.options.resend_s:
                    pending.last_sent = now
                    self.report.resent += 1
                    cabinet.client.publish(topic(cabinet.code, Channel.EVENTS), pending.payload, qos=1)
        self._at(now + self.options.resend_s, self._resend)

    def _telemetry(self, cabinet: Cabinet) -> None:
        chilled = 4.0 + self._random.gauss(0, 0.3)
        sample = Telemetry(
            temperatures_c=[round(chilled, 2), round(chilled + 0.4, 2)],
            compressor_on=chilled > 4.0,
            doors=[DoorReading(door=d, open=False, locked=True) for d in (0, 1)],
            outbox_depth=len(cabinet.outbox),
            uptime_s=int(self.report.seconds),
        )
        cabinet.client.publish(topic(cabinet.code, Channel.TELEMETRY), encode(sample), qos=0)
        self.report.telemetry += 1
        self._at(time.monotonic() + self.options.telemetry_s, partial(self._telemetry, cabinet))

    def close(self) -> None:
        """Leave cleanly: each cabinet's retained status says offline, as a stopping gateway's does."""
        offline = encode(Status(state="offline", gateway_version="sim-fleet"))
        for cabinet in self._cabinets:
            cabinet.client.publish(topic(cabinet.code, Channel.STATUS), offline, qos=1, retain=True)
        for _ in range(20):
            self._pump(TICK_S)
        for cabinet in self._cabinets:
            cabinet.client.disconnect()
            cabinet.client.loop_write()
        self._selector.close()


def play(options: FleetOptions) -> dict[str, float | int]:
    fleet = Fleet(options)
    try:
        fleet.connect()
        report = fleet.run()
    finally:
        fleet.close()
    return report.summary()


def seed_fixture(options: FleetOptions, per_store: int = 100) -> dict[str, object]:
    """The cloud's seed fixture for these cabinets (`vendfleet cloud seed`), in stores of per_store."""
    stores, cabinets = [], []
    for n in range(options.cabinets):
        store = f"{options.prefix}S{n // per_store:03d}"
        lat, lon = 31.0 + (n % 97) * 0.004, 121.2 + (n // 97) * 0.004
        if n % per_store == 0:
            stores.append({"code": store, "name_zh": store, "name_en": store, "lat": lat, "lon": lon})
        cabinets.append(
            {"code": options.code(n), "store": store, "layout": "ambient-lanes", "lat": lat, "lon": lon}
        )
    return {"products": "catalog", "stores": stores, "cabinets": cabinets}
