"""A door session as an explicit state machine (DESIGN §4), persisted so a restart resumes it.

idle → unlocking ─door opened→ open ─door closed→ settling ─stable→ reported
          └─timeout→ not_opened     └─too long→ left_open ─door closed┘
"""

from __future__ import annotations

import enum
import json
import sqlite3
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from gateway import GatewayError


class State(enum.StrEnum):
    UNLOCKING = "unlocking"
    OPEN = "open"
    LEFT_OPEN = "left_open"
    SETTLING = "settling"
    REPORTED = "reported"
    NOT_OPENED = "not_opened"


class Trigger(enum.StrEnum):
    DOOR_OPENED = "door_opened"
    OPEN_TIMEOUT = "open_timeout"
    LEFT_OPEN_TIMEOUT = "left_open_timeout"
    DOOR_CLOSED = "door_closed"
    SETTLED = "settled"  # stable weights, or the settle timeout


TRANSITIONS: dict[tuple[State, Trigger], State] = {
    (State.UNLOCKING, Trigger.DOOR_OPENED): State.OPEN,
    (State.UNLOCKING, Trigger.OPEN_TIMEOUT): State.NOT_OPENED,
    (State.OPEN, Trigger.DOOR_CLOSED): State.SETTLING,
    (State.OPEN, Trigger.LEFT_OPEN_TIMEOUT): State.LEFT_OPEN,
    (State.LEFT_OPEN, Trigger.DOOR_CLOSED): State.SETTLING,
    (State.SETTLING, Trigger.SETTLED): State.REPORTED,
}
FINAL = {State.REPORTED, State.NOT_OPENED}


class BadTransition(GatewayError):
    pass


@dataclass(frozen=True)
class DoorSession:
    session_id: str
    command_id: UUID
    door: int
    mode: Literal["resident", "restock"]
    tag: int  # the UNLOCK session tag the lock board echoes
    unlocked_at: datetime
    baseline: dict[int, tuple[float, bool, bool]]  # channel → (grams, stable, fault)
    state: State = State.UNLOCKING
    opened_at: datetime | None = None
    closed_at: datetime | None = None
    changed_at: datetime | None = None
    extra: dict[str, Any] = field(default_factory=dict)

    def fire(self, trigger: Trigger, at: datetime) -> DoorSession:
        target = TRANSITIONS.get((self.state, trigger))
        if target is None:
            raise BadTransition(f"session {self.session_id}: {trigger} in state {self.state}")
        update: dict[str, Any] = {"state": target, "changed_at": at}
        if trigger is Trigger.DOOR_OPENED:
            update["opened_at"] = at
        elif trigger is Trigger.DOOR_CLOSED:
            update["closed_at"] = at
        return replace(self, **update)

    @property
    def done(self) -> bool:
        return self.state in FINAL


class SessionStore:
    """One live session per door, in the gateway's SQLite file."""

    def __init__(self, conn: sqlite3.Connection) -> None:
        self._conn = conn

    @contextmanager
    def atomic(self) -> Iterator[None]:
        """What is saved inside is committed together: one fsync."""
        with self._conn:
            self._conn.execute("BEGIN IMMEDIATE")
            yield

    def save(self, session: DoorSession) -> None:
        self._conn.execute(
            "INSERT OR REPLACE INTO door_sessions (door, state) VALUES (?, ?)",
            # vars(), not asdict(): no field nests a dataclass, and asdict's deep copy is most of
            # the cost of a save (one is on every unlock's path).
            (session.door, json.dumps(vars(session), default=str)),
        )

    def delete(self, door: int) -> None:
        self._conn.execute("DELETE FROM door_sessions WHERE door = ?", (door,))

    def load_all(self) -> dict[int, DoorSession]:
        rows = self._conn.execute("SELECT state FROM door_sessions").fetchall()
        return {s.door: s for s in (_decode(json.loads(r[0])) for r in rows)}


def _decode(raw: dict[str, Any]) -> DoorSession:
    def when(value: str | None) -> datetime | None:
        return None if value is None else datetime.fromisoformat(value)

    return DoorSession(
        session_id=raw["session_id"],
        command_id=UUID(raw["command_id"]),
        door=raw["door"],
        mode=raw["mode"],
        tag=raw["tag"],
        unlocked_at=datetime.fromisoformat(raw["unlocked_at"]),
        baseline={int(k): (v[0], v[1], v[2]) for k, v in raw["baseline"].items()},
        state=State(raw["state"]),
        opened_at=when(raw["opened_at"]),
        closed_at=when(raw["closed_at"]),
        changed_at=when(raw["changed_at"]),
        extra=raw.get("extra", {}),
    )
