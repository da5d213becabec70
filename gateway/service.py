"""The gateway process: one service thread reacting to the bus, the broker and the clock."""

from __future__ import annotations

import contextlib
import queue
import threading
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import structlog

from gateway.alarms import Alarms
from gateway.bus import BoardHealth, BoardsFound, BusEvent, BusMaster, PortState, Reading
from gateway.db import get_meta, next_counter, open_db, set_meta
from gateway.door_session import DoorSession, SessionStore
from gateway.metrics import GatewayMetrics
from gateway.mqtt_link import Connected, Disconnected, Inbound, LinkEvent, MqttLink
from gateway.outbox import Event, EventBuilder, Outbox
from gateway.replay_guard import SqliteReplayGuard
from gateway.scale_watch import ScaleWatch
from gateway.sessions import Refused, SessionRunner
from gateway.settings import GatewaySettings
from gateway.snapshot import Snapshot, Weight
from gateway.stock import StockBook
from protocols import ProtocolError
from protocols.mqtt.schemas import (
    Ack,
    AlarmEvent,
    AlarmKind,
    CabinetSettings,
    Command,
    Config,
    ConfigRefreshAction,
    EvAck,
    TareAction,
    UnlockAction,
    encode,
    parse,
)
from protocols.mqtt.topics import Channel, parse_topic
from protocols.planogram import Planogram
from protocols.planogram_lint import check_planogram
from protocols.runtime.shutdown import stop_together
from protocols.serial.commands import (
    ALL_CHANNELS,
    BoardEvent,
    BoardType,
    Climate,
    Status,
    Tare,
    Weights,
)
from protocols.serial.commands import (
    Ack as BoardAck,
)
from protocols.signing import CommandRejected, CommandVerifier, load_public_key, verify_config

log = structlog.get_logger("gateway")
DETAIL_MAX = 500  # Ack.detail is bounded; a rejection's reason may quote attacker-chosen keys
UPTIME_WRAP = 2**32  # a board's uptime_ms is a u32 and wraps after 49.7 days
CHANNELS = frozenset(c.value for c in Channel)
BUS_READ_WAIT_S = 10.0  # a board that never answers must not hold session timers back for ever
COMMAND_HOLD_S = 0.05  # polls wait at most this for a verified command's call (an unlock's commit)


class Dropped(ProtocolError):
    """An inbound message refused for a reason worth counting separately."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason


class GatewayService:
    def __init__(self, settings: GatewaySettings) -> None:
        self.s = settings
        self._queue: queue.Queue[BusEvent | LinkEvent] = queue.Queue()
        self._db = open_db(settings.data_dir)
        self.outbox = Outbox(self._db, settings.outbox_max_events)
        self._cloud_key = load_public_key(settings.cloud_key.read_bytes())
        self._guard = SqliteReplayGuard(self._db)
        self._verifier = CommandVerifier(self._cloud_key, settings.cabinet_id, self._guard)
        self.config = self._load_config()
        self.snapshot = Snapshot()
        self.metrics = GatewayMetrics()
        self.bus = BusMaster(settings, self._queue.put, self.metrics)
        auth = {
            "username": settings.username,
            "password": settings.password,
            "tls_ca": _str(settings.tls_ca),
            "tls_cert": _str(settings.tls_cert),
            "tls_key": _str(settings.tls_key),
        }
        self.link = MqttLink(
            settings.cabinet_id, settings.mqtt, self._queue.put, keepalive=settings.mqtt_keepalive_s, **auth
        )
        self.link.report_config(self._cloud_version())
        self.alarms = Alarms(self._emit_alarm)
        self.scales = ScaleWatch(settings.scale_limits(), self.alarms)
        self.stock = StockBook(self._db)
        self.stock.follow(self.config)
        self.sessions = SessionRunner(
            settings=settings,
            bus=self.bus,
            snapshot=self.snapshot,
            store=SessionStore(self._db),
            alarms=self.alarms,
            emit=self.emit,
            planogram=self.planogram,
            timing=self.timing,
            next_tag=lambda: next_counter(self._db, "session_tag"),
            on_done=self._session_done,
            stock=self.stock,
            noise=self.scales.noise,
        )
        self._sent: dict[int, float] = {}  # seq → monotonic time of the last publish
        self._started = time.monotonic()
        self._next_telemetry = 0.0
        self._bus_seen = False  # the first discovery has run
        self._bus_seen_at: float | None = None
        self._kinds_read: set[BoardType] = set()  # board kinds that have answered a poll
        self._next_resend = 0.0

    # -- config ------------------------------------------------------------------------------

    def planogram(self) -> Planogram | None:
        return self.config.planogram if self.config else None

    def timing(self) -> CabinetSettings:
        """The settings of the config applied (the cloud's, or a local commissioning file's); the
        fleet defaults before any config came."""
        return self.config.settings if self.config else CabinetSettings()

    def _load_config(self) -> Config | None:
        stored = get_meta(self._db, "config")
        if stored:
            return parse(Config, stored)
        if self.s.planogram:
            config = parse(Config, self.s.planogram.read_bytes())
            check_planogram(config.planogram, max_take=config.settings.max_take)
            return config
        return None

    def _on_config(self, raw: bytes) -> None:
        config = verify_config(raw, self._cloud_key, self.s.cabinet_id)
        if self.config and config.version <= self.config.version and get_meta(self._db, "config"):
            return
        check_planogram(config.planogram, max_take=config.settings.max_take)
        set_meta(self._db, "config", raw.decode())
        self.config = config
        self.stock.follow(config)
        log.info("config applied", version=config.version, channels=len(config.planogram.channels))
        self.link.report_config(self._cloud_version())

    def _cloud_version(self) -> int | None:
        """The version of the cloud's config we run (None: only a local commissioning file)."""
        return self.config.version if self.config and self.config.cabinet_id else None

    # -- the loop ----------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> list[str]:
        """Until `stop` is set; returns what the stop had to abandon (see protocols.runtime.shutdown)."""
        if self.s.metrics_port:
            # Served from another thread: outbox depth opens its own connection.
            self.metrics.serve(self.s.metrics_port, lambda: _depth(self.s))
        self.bus.start()
        self.link.start()
        try:
            while not stop.is_set():
                try:
                    item = self._queue.get(timeout=0.05)
                except queue.Empty:
                    pass
                else:
                    self._survive("handle", self._handle, item)
                self._survive("tick", self._tick)
        finally:
            # The outbox is committed before anything is published, so nothing in flight is lost.
            abandoned = stop_together([self.link.stop, self.bus.stop])
            self._db.close()  # in this thread: sqlite3 connections belong to the thread that made them
        return abandoned

    def _survive(self, where: str, step: Callable[..., None], *args: Any) -> None:
        """Run one step of the loop; an exception is logged and counted, never the loop's end."""
        try:
            step(*args)
        except Exception:
            log.exception("unexpected error survived", where=where)
            self.metrics.internal_errors.labels(where).inc()

    def _handle(self, item: BusEvent | LinkEvent) -> None:
        match item:
            case Reading():
                self._on_reading(item)
            case BoardsFound(boards):
                self.snapshot.boards = {b.addr: b for b in boards}
                self._bus_seen = True
                self._bus_seen_at = self._bus_seen_at or time.monotonic()
                self.link.boards_known()
            case BoardHealth(addr, online):
                self.snapshot.online[addr] = online
                self.alarms.set(not online, "board_fault", addr, board_addr=addr, detail="not answering")
            case PortState(ok, detail):
                self.alarms.set(not ok, "serial_lost", None, detail=detail[:DETAIL_MAX])
            case Connected():
                self._sent.clear()  # everything not yet acknowledged goes again
                self._next_resend = 0.0
                for sample in self.outbox.take_telemetry():
                    self.link.publish(Channel.TELEMETRY, sample, qos=1)
            case Disconnected():
                pass
            case Inbound(topic, payload):
                self._on_inbound(topic, payload)

    def _on_reading(self, reading: Reading) -> None:
        board, answer = reading.board, reading.answer
        self._kinds_read.add(board.board_type)
        if isinstance(answer, Status):
            for event in answer.events:
                at = reading.at - timedelta(milliseconds=_age_ms(answer, event))
                self.sessions.board_event(board, event, at)
            self.snapshot.lock_status(board, answer, reading.at)
            self.sessions.reconcile_doors()
        elif isinstance(answer, Weights):
            for i, w in enumerate(answer.channels):
                channel = board.first + i
                self.snapshot.weigh(channel, Weight.of(w, reading.at))
                self.alarms.set(w.fault, "scale_fault", channel, channel=channel, board_addr=board.addr)
                self.scales.observe(channel, w, reading.at, quiet=self._quiet())
        elif isinstance(answer, Climate):
            self.snapshot.climate = answer

    def _quiet(self) -> bool:
        """Doors shut and no session: a load cell's reading can only move by itself."""
        return not self.sessions.active and not any(d.open for d in self.snapshot.doors.values())

    def _on_inbound(self, topic: str, payload: bytes) -> None:
        """Act on one broker message; whatever is wrong with it is logged, counted and dropped."""
        last = topic.rsplit("/", 1)[-1]
        channel = last if last in CHANNELS else "unknown"  # a metric label: a closed set
        try:
            self._dispatch(topic, payload)
        except Dropped as exc:
            self._dropped(channel, exc.reason, exc)
        except CommandRejected as exc:
            self._dropped(channel, exc.reason, exc)
        except ProtocolError as exc:
            self._dropped(channel, "invalid", exc)
        except Exception as exc:
            log.exception("inbound message broke its handler", topic=topic[:200])
            self.metrics.internal_errors.labels("inbound").inc()
            self._dropped(channel, "internal_error", exc)

    def _dropped(self, channel: str, reason: str, exc: Exception) -> None:
        log.warning("inbound message dropped", channel=channel, reason=reason, detail=str(exc)[:DETAIL_MAX])
        self.metrics.inbound_dropped.labels(channel, reason).inc()

    def _dispatch(self, topic: str, payload: bytes) -> None:
        where = parse_topic(topic)
        if where.cabinet_id != self.s.cabinet_id:
            # Seen with amqtt: another cabinet's retained config delivered to us. Never apply it.
            raise Dropped("other_cabinet", f"message for {where.cabinet_id} on {topic}")
        channel = where.channel
        if channel is Channel.EVACK:
            self._on_evack(payload)
        elif channel is Channel.CONFIG:
            self._on_config(payload)
        elif channel is Channel.CMD:
            self._on_command(payload)
        else:
            raise Dropped("unexpected_channel", f"the gateway does not subscribe to {channel}")

    def _on_evack(self, payload: bytes) -> None:
        seq = parse(EvAck, payload).seq
        last = self.outbox.last_seq()
        if seq > last:
            # No honest cloud stores an event before it exists: deleting on its word would lose events.
            raise Dropped("beyond_sent", f"evack {seq} covers events never sent (last seq {last})")
        self.outbox.acknowledge(seq)
        self._sent = {k: v for k, v in self._sent.items() if k > seq}

    # -- commands ----------------------------------------------------------------------------

    def _on_command(self, raw: bytes) -> None:
        try:
            command = self._verifier.verify(raw, datetime.now(UTC))
        except CommandRejected as exc:
            self._ack(exc.command_id, "rejected", reason=exc.reason, detail=exc.detail)
            raise
        # No poll starts while the command is persisted: its call finds the line free.
        self.bus.hold_polls(COMMAND_HOLD_S)
        try:
            self._execute(command)
        except Refused as exc:
            self._guard.commit()  # refused before its commit (a busy door): never to be run all the same
            self._ack(command.command_id, "rejected", reason=exc.reason, detail=exc.detail)
        except Exception:
            # Failed is final: the cloud hears it and releases the hold, so a replay must never run it
            # after all (the failure may be the database itself: the cloud still hears), then count it.
            with contextlib.suppress(Exception):
                self._guard.commit()
            self._ack(command.command_id, "rejected", reason="internal_error", detail="see gateway log")
            raise
        finally:
            self.bus.hold_polls(0.0)

    def _execute(self, command: Command) -> None:
        body = command.body
        if isinstance(body, UnlockAction):
            # The command id is committed with the session, before the pulse.
            session = self.sessions.unlock(command.command_id, body, store_with=self._guard.store)
            self._ack(command.command_id, "accepted", session_id=session.session_id)
            return
        self._guard.commit()  # before the command runs: a replay after a crash must find its id
        if isinstance(body, TareAction):
            self._tare(body.channel)
            self._ack(command.command_id, "done")
        elif isinstance(body, ConfigRefreshAction):
            self._ack(
                command.command_id,
                "done",
                detail=f"config version {self.config.version if self.config else 0}",
            )

    def _tare(self, channel: int | None) -> None:
        """Tare one channel or all; a channel no scale board has is refused, never acked done."""
        boards = self.snapshot.boards_of(BoardType.SCALE)
        count = sum(b.count for b in boards)
        if channel is not None:
            boards = [b for b in boards if b.first <= channel < b.first + b.count]
        if not boards:
            raise Refused("unknown_channel", f"no scale channel {channel}; this cabinet has {count}")
        try:
            for board in boards:
                local = ALL_CHANNELS if channel is None else channel - board.first
                if not isinstance(self.bus.call(board.addr, Tare(local)), BoardAck):
                    raise Refused("hardware_fault", f"scale board 0x{board.addr:02x} refused to tare")
                tared = range(board.first, board.first + board.count) if channel is None else [channel]
                self.scales.tared(tared)
        finally:
            self.snapshot.tared_at = datetime.now(UTC)  # older readings are on the old zero

    def _ack(self, command_id: Any, status: str, **fields: Any) -> None:
        if "detail" in fields:
            fields["detail"] = str(fields["detail"])[:DETAIL_MAX]
        ack = Ack(command_id=command_id, status=status, **fields)
        self.link.publish(Channel.ACK, encode(ack))

    def _session_done(self, session: DoorSession) -> None:
        self._ack(session.command_id, "done", session_id=session.session_id, detail=session.state.value)

    # -- events ------------------------------------------------------------------------------

    def emit(self, build: EventBuilder) -> Event:
        """Store an event in the outbox, then publish it if the broker is there."""
        event = self.outbox.append(build)
        if self.link.connected and len(self._sent) < self.s.inflight_window:
            self._publish_event(event.seq, encode(event))
        return event

    def _emit_alarm(self, kind: AlarmKind, state: str, fields: dict[str, Any]) -> None:
        log.warning("alarm", kind=kind, state=state, **fields)
        cabinet = self.s.cabinet_id
        self.emit(
            lambda seq, eid: AlarmEvent(
                event_id=eid, seq=seq, cabinet_id=cabinet, alarm=kind, state=state, **fields
            )
        )

    def _publish_event(self, seq: int, payload: bytes) -> None:
        self.link.publish(Channel.EVENTS, payload)
        self._sent[seq] = time.monotonic()

    def _resend(self, now: float) -> None:
        """Publish what the cloud has not acknowledged: new, or unacknowledged for too long."""
        if not self.link.connected:
            return
        for stored in self.outbox.pending(self.s.inflight_window):
            sent = self._sent.get(stored.seq)
            if sent is None or now - sent > self.s.evack_timeout_s:
                self._publish_event(stored.seq, stored.payload)

    # -- the clock -----------------------------------------------------------------------------

    def _tick(self) -> None:
        now = time.monotonic()
        if self._bus_read(now):
            self.sessions.tick()
        if now >= self._next_resend:
            self._next_resend = now + 1.0
            self._resend(now)
        # Nothing is reported before the first look at the bus: the cloud takes telemetry as a sign of
        # life, and a cabinet whose boards are not yet known would refuse the unlock it then sends.
        if now >= self._next_telemetry and self._bus_seen:
            self._next_telemetry = now + self._telemetry_interval()
            self._telemetry()

    def _bus_read(self, now: float) -> bool:
        """Every kind of board found has answered once since we started (or a while has passed).

        Session timers wait for it: after a restart, a session resumed as `unlocking` or `settling`
        must be judged on the doors and weights as they are now, not on readings not yet taken."""
        if self._bus_seen_at is None:
            return False
        kinds = {b.board_type for b in self.snapshot.boards.values()}
        return kinds <= self._kinds_read or now > self._bus_seen_at + BUS_READ_WAIT_S

    def _telemetry_interval(self) -> float:
        return self.timing().telemetry_interval_s

    def _telemetry(self) -> None:
        stats = dict(self.bus.board_errors)  # one C-level copy: the bus thread writes it
        sample = self.snapshot.telemetry(int(time.monotonic() - self._started), self.outbox.depth(), stats)
        sample = sample.model_copy(update={"scales": self.scales.summaries()})
        if self.link.connected:
            self.link.publish(Channel.TELEMETRY, encode(sample), qos=0)
        else:
            self.outbox.keep_telemetry(
                sample, self.s.offline_telemetry_bucket_s, self.s.offline_telemetry_max
            )


def _age_ms(status: Status, event: BoardEvent) -> int:
    """How long before the STATUS the event happened, across a wrap of the board's uptime."""
    age = (status.uptime_ms - event.at_ms) % UPTIME_WRAP
    return 0 if age >= UPTIME_WRAP // 2 else age  # "in the future": a sloppy board clock, call it now


def _depth(settings: GatewaySettings) -> int:
    conn = open_db(settings.data_dir)
    try:
        return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])
    finally:
        conn.close()


def _str(value: object) -> str | None:
    return None if value is None else str(value)
