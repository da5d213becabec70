"""Command ids already accepted, kept in SQLite so a reboot does not let a replay through."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from uuid import UUID

from protocols.signing import MAX_LIFETIME


class SqliteReplayGuard:
    """`remember` only notes an id; `store` writes it in the caller's transaction.

    An unlock thus commits its id together with its session: one fsync before the pulse, not two
    (each is 0.5–3 ms on the gateway's flash, the largest part of the unlock path). Until stored,
    the noted id counts as seen, so a duplicate arriving meanwhile is refused too.
    """

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn
        self._noted: dict[UUID, datetime] = {}

    def seen(self, command_id: UUID) -> bool:
        if command_id in self._noted:
            return True
        row = self._conn.execute(
            "SELECT 1 FROM seen_commands WHERE command_id = ?", (str(command_id),)
        ).fetchone()
        return row is not None

    def remember(self, command_id: UUID, expires_at: datetime) -> None:
        self._noted[command_id] = expires_at

    def commit(self) -> None:
        """Store the noted ids in a transaction of their own (a command no session's commit took along)."""
        if self._noted:
            with self._conn:
                self._conn.execute("BEGIN IMMEDIATE")
                self.store()

    def store(self) -> None:
        """Write the noted ids; call inside a transaction: they are durable once it commits."""
        for command_id, expires_at in self._noted.items():
            # Ids of commands that expired long ago can no longer be replayed: forget them.
            horizon = (expires_at - MAX_LIFETIME - timedelta(days=1)).isoformat()
            self._conn.execute("DELETE FROM seen_commands WHERE expires_at < ?", (horizon,))
            self._conn.execute(
                "INSERT OR IGNORE INTO seen_commands (command_id, expires_at) VALUES (?, ?)",
                (str(command_id), expires_at.isoformat()),
            )
        self._noted.clear()
