"""Store and forward: events wait here until the cloud's `evack` covers their seq.

A broker's PUBACK only means the broker has the message (DESIGN §3), so nothing leaves the
outbox before the cloud says it stored it. Telemetry taken while offline is folded into one
sample per bucket so the disk stays bounded.
"""

from __future__ import annotations

import sqlite3
import uuid
from collections.abc import Callable
from dataclasses import dataclass

from gateway.db import get_meta, next_counter
from protocols.mqtt.schemas import AlarmEvent, DoorEvent, SessionResult, Telemetry, encode, parse

Event = SessionResult | DoorEvent | AlarmEvent
# Built with the seq and event_id the outbox assigns, in the transaction that stores it.
EventBuilder = Callable[[int, uuid.UUID], Event]
# Door events are the only ones dropped when the outbox is over its bound.
DROPPABLE = "door"


@dataclass(frozen=True)
class Stored:
    seq: int
    payload: bytes


class Outbox:
    def __init__(self, conn: sqlite3.Connection, max_events: int) -> None:
        self._conn = conn
        self._max = max_events

    def append(self, build: EventBuilder) -> Event:
        """Give the event the next seq and store it durably before anyone publishes it."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            seq = next_counter(self._conn, "event_seq")
            event = build(seq, uuid.uuid4())
            self._conn.execute(
                "INSERT INTO outbox (seq, event_id, kind, payload) VALUES (?, ?, ?, ?)",
                (seq, str(event.event_id), event.kind, encode(event)),
            )
            self._enforce_bound()
        return event

    def _enforce_bound(self) -> None:
        excess = self.depth() - self._max
        if excess > 0:
            self._conn.execute(
                "DELETE FROM outbox WHERE seq IN "
                "(SELECT seq FROM outbox WHERE kind = ? ORDER BY seq LIMIT ?)",
                (DROPPABLE, excess),
            )

    def acknowledge(self, seq: int) -> int:
        """The cloud stored everything up to `seq`: forget it. Returns how many left."""
        with self._conn:
            cursor = self._conn.execute("DELETE FROM outbox WHERE seq <= ?", (seq,))
        return cursor.rowcount

    def pending(self, limit: int, after: int = 0) -> list[Stored]:
        rows = self._conn.execute(
            "SELECT seq, payload FROM outbox WHERE seq > ? ORDER BY seq LIMIT ?", (after, limit)
        ).fetchall()
        return [Stored(int(seq), bytes(payload)) for seq, payload in rows]

    def last_seq(self) -> int:
        """The highest seq ever given to an event (0 before the first)."""
        return int(get_meta(self._conn, "event_seq") or 0)

    def depth(self) -> int:
        return int(self._conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    # -- telemetry while offline -------------------------------------------------------------

    def keep_telemetry(self, sample: Telemetry, bucket_s: float, max_buckets: int) -> None:
        """Fold an offline sample into its time bucket (the first sample speaks for it)."""
        bucket = int(sample.ts.timestamp() // bucket_s)
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            row = self._conn.execute(
                "SELECT payload FROM telemetry_backlog WHERE bucket = ?", (bucket,)
            ).fetchone()
            if row:
                kept = parse(Telemetry, row[0])
                sample = kept.model_copy(update={"samples": kept.samples + sample.samples})
            self._conn.execute(
                "INSERT OR REPLACE INTO telemetry_backlog (bucket, payload) VALUES (?, ?)",
                (bucket, encode(sample)),
            )
            self._conn.execute(
                "DELETE FROM telemetry_backlog WHERE bucket NOT IN "
                "(SELECT bucket FROM telemetry_backlog ORDER BY bucket DESC LIMIT ?)",
                (max_buckets,),
            )

    def take_telemetry(self) -> list[bytes]:
        """The offline samples, oldest first, removed from the backlog."""
        with self._conn:
            rows = self._conn.execute("SELECT payload FROM telemetry_backlog ORDER BY bucket").fetchall()
            self._conn.execute("DELETE FROM telemetry_backlog")
        return [bytes(r[0]) for r in rows]
