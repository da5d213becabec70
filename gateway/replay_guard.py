"""Command ids already accepted, kept in SQLite so a reboot does not let a replay through."""

from __future__ import annotations

import sqlite3
from datetime import datetime, timedelta
from uuid import UUID

from protocols.signing import MAX_LIFETIME


class SqliteReplayGuard:
    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    def seen(self, command_id: UUID) -> bool:
        row = self._conn.execute(
            "SELECT 1 FROM seen_commands WHERE command_id = ?", (str(command_id),)
        ).fetchone()
        return row is not None

    def remember(self, command_id: UUID, expires_at: datetime) -> None:
        # Ids of commands that expired long ago can no longer be replayed: forget them.
        horizon = (expires_at - MAX_LIFETIME - timedelta(days=1)).isoformat()
        with self._conn:  # one transaction, one fsync: this is on the path of every unlock
            self._conn.execute("BEGIN IMMEDIATE")
            self._conn.execute("DELETE FROM seen_commands WHERE expires_at < ?", (horizon,))
            self._conn.execute(
                "INSERT OR IGNORE INTO seen_commands (command_id, expires_at) VALUES (?, ?)",
                (str(command_id), expires_at.isoformat()),
            )
