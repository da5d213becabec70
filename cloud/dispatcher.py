"""The outbox dispatcher: one thread that delivers what cloud/domain/outbox.py queued, with retry and
back-off. A row is claimed with a lease (so several cloud processes may run one each, and none holds a
database lock while it waits on the broker or a provider), delivered outside any transaction, then closed:

- command: done when the broker has it (PUBACK); given up when it expired first, and the visit then
  expires cleanly (sessions.expire_stale frees the hold);
- config: sent when the broker has it, done only when the gateway reports the version applied in its
  retained status; re-sent with back-off until then (a broker restarted without its retained messages);
- payment: done when the provider has done it (each operation is idempotent per session).
"""

from __future__ import annotations

import queue
import threading
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import structlog
from sqlalchemy import case, event, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.models import OutboxMessage
from cloud.domain import alarms, outbox, payments
from cloud.domain.fleet import cabinet_by_code
from cloud.domain.outbox import LEASE
from cloud.domain.payments import PaymentProvider
from cloud.mqtt import NotDelivered, Publisher
from protocols.mqtt.schemas import Command, Config
from protocols.mqtt.topics import Channel

log = structlog.get_logger("cloud.dispatcher")
FIRST_RETRY = timedelta(milliseconds=500)
LAST_RETRY = timedelta(minutes=5)
CONFIG_PATIENCE = timedelta(seconds=30)  # sent but not applied for this long: send again
DRIFT_AFTER = timedelta(minutes=5)  # … and ops hear of it
BATCH = 100
PUBACK_WAIT_S = 1.0  # short: a stop must not wait out a broker that hangs
# An unlock has a resident waiting at the door; a capture or a config can wait a few milliseconds.
COMMANDS_FIRST = case((OutboxMessage.kind == "command", 0), else_=1)


@dataclass(frozen=True)
class Claimed:
    id: int
    kind: str
    payload: dict[str, object]
    attempts: int
    created_at: datetime
    expires_at: datetime | None


class Dispatcher:
    def __init__(
        self,
        factory: sessionmaker[Session],
        publisher: Publisher | None,
        provider: PaymentProvider,
        *,
        idle_poll_s: float = 0.25,
    ) -> None:
        self.name = "dispatcher"
        self._factory = factory
        self._publisher = publisher
        self._provider = provider
        self._idle_poll_s = idle_poll_s
        self._wake = threading.Event()
        self._handed: queue.SimpleQueue[Command] = queue.SimpleQueue()  # committed, claimed, to publish now
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # -- running --------------------------------------------------------------------------------

    def start(self) -> Dispatcher:
        self._thread = threading.Thread(target=self._run, name="outbox-dispatcher", daemon=True)
        self._thread.start()
        return self

    def send_on_commit(self) -> Dispatcher:
        """Publish the commands a transaction of our factory queues the moment it commits, with no
        round of claiming in between (see outbox.send_command)."""
        self._factory.configure(info={outbox.SENDS_ON_COMMIT: True})
        event.listen(self._factory, "after_commit", self._committed)
        event.listen(self._factory, "after_soft_rollback", lambda db, _: db.info.pop(outbox.TO_SEND, None))
        return self

    def _committed(self, db: Session) -> None:
        for command in db.info.pop(outbox.TO_SEND, []):
            self._handed.put(command)
            self._wake.set()

    def wake(self) -> None:
        """Something was committed to the outbox: deliver it now rather than at the next poll."""
        self._wake.set()

    def alive(self) -> bool:
        return self._thread is not None and self._thread.is_alive()

    def stop(self) -> None:
        self._stop.set()
        self._wake.set()
        if self._thread:
            self._thread.join()

    def _run(self) -> None:
        while not self._stop.is_set():
            self._wake.clear()  # before looking: what is handed or committed from now on wakes us again
            try:
                self._send_handed()
                busy = self.deliver_due() > 0
            except Exception:  # the database is away: try again, never die
                log.exception("dispatcher round failed")
                busy = False
            if not busy:
                self._wake.wait(self._idle_poll_s)

    # -- one round ------------------------------------------------------------------------------

    def deliver_due(self) -> int:
        """Claim what is due, deliver it, record the outcome; returns how many rows it handled."""
        claimed = self._claim()
        for row in claimed:
            if self._stop.is_set():
                break  # the rest is claimed for one lease; whoever runs next delivers it
            self._deliver(row)
        return len(claimed)

    def _send_handed(self) -> None:
        """Commands their transaction handed us on commit, already claimed: publish, then close."""
        while not self._handed.empty():
            command = self._handed.get()
            key = outbox.command_key(command)
            try:
                self._mqtt(Channel.CMD, command, retain=False)
            except Exception as exc:  # the broker is away: the rounds of claiming retry it from now on
                log.warning("outbox delivery failed", key=key, attempt=1, error=str(exc))
                with transaction(self._factory) as db:
                    outbox.retry_at(db, key, datetime.now(UTC) + FIRST_RETRY, str(exc)[:500])
                continue
            with transaction(self._factory) as db:
                outbox.close(db, key, "delivered")

    def _claim(self) -> list[Claimed]:
        now = datetime.now(UTC)
        with transaction(self._factory) as db:
            query = (
                select(OutboxMessage)
                .where(OutboxMessage.done_at.is_(None), OutboxMessage.next_attempt_at <= now)
                .order_by(COMMANDS_FIRST, OutboxMessage.id)
                .limit(BATCH)
                .with_for_update(skip_locked=True)
            )
            rows = list(db.scalars(query))
            for row in rows:
                row.next_attempt_at = now + LEASE
                row.attempts += 1
            return [Claimed(r.id, r.kind, r.payload, r.attempts, r.created_at, r.expires_at) for r in rows]

    def _deliver(self, row: Claimed) -> None:
        try:
            if row.expires_at is not None and row.expires_at <= datetime.now(UTC):
                self._close(row, "expired")
            elif row.kind == "command":
                self._mqtt(Channel.CMD, Command.model_validate(row.payload), retain=False)
                self._close(row, "delivered")
            elif row.kind == "config":
                self._deliver_config(row)
            else:
                with transaction(self._factory) as db:
                    payments.carry_out(self._provider, db, row.payload)
                self._close(row, "done")
        except Exception as exc:  # the broker or provider is away, or a bug: keep it and try later
            self._retry(row, exc)

    def _deliver_config(self, row: Claimed) -> None:
        config = Config.model_validate(row.payload["config"])
        if row.attempts > 1 and datetime.now(UTC) - row.created_at > DRIFT_AFTER:
            self._drift(config)
        self._mqtt(Channel.CONFIG, config, retain=True)
        self._sent(row, after=min(CONFIG_PATIENCE * row.attempts, LAST_RETRY))

    def _mqtt(self, channel: Channel, payload: Command | Config, *, retain: bool) -> None:
        if self._publisher is None:
            raise NotDelivered("no broker configured")
        assert payload.cabinet_id is not None
        self._publisher.deliver(payload.cabinet_id, channel, payload, retain=retain, timeout=PUBACK_WAIT_S)

    # -- outcomes -------------------------------------------------------------------------------

    def _close(self, row: Claimed, outcome: str) -> None:
        self._update(row, lambda m: _done(m, outcome))

    def _sent(self, row: Claimed, after: timedelta) -> None:
        def sent(m: OutboxMessage) -> None:
            m.sent_at = datetime.now(UTC)
            m.next_attempt_at = m.sent_at + after

        self._update(row, sent)

    def _retry(self, row: Claimed, exc: Exception) -> None:
        delay = min(FIRST_RETRY * 2 ** (row.attempts - 1), LAST_RETRY)
        log.warning("outbox delivery failed", id=row.id, kind=row.kind, attempt=row.attempts, error=str(exc))

        def later(m: OutboxMessage) -> None:
            m.next_attempt_at = datetime.now(UTC) + delay
            m.last_error = str(exc)[:500]

        self._update(row, later)

    def _update(self, row: Claimed, change: Callable[[OutboxMessage], None]) -> None:
        with transaction(self._factory) as db:
            message = db.get(OutboxMessage, row.id)
            if message is not None and message.done_at is None:  # not superseded or applied meanwhile
                change(message)

    def _drift(self, config: Config) -> None:
        assert config.cabinet_id is not None
        with transaction(self._factory) as db:
            cabinet = cabinet_by_code(db, config.cabinet_id)
            applied = cabinet.config_applied or 0
            detail = f"config v{config.version} not applied (the gateway runs v{applied})"
            params = {"desired": config.version, "applied": applied}
            alarms.set_alarm(db, cabinet, True, "config_drift", detail=detail, params=params)


def _done(message: OutboxMessage, outcome: str) -> None:
    message.done_at = datetime.now(UTC)
    message.outcome = outcome
