"""The transactional outbox: what the cloud must say to a cabinet or a payment provider is written in the
same transaction as the state change that calls for it, so a commit and its message never part.
cloud/dispatcher.py delivers it; this module only writes and closes rows.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Literal

from pydantic import BaseModel
from sqlalchemy import insert, select, update
from sqlalchemy.orm import Session

from cloud.db.bulk import table_of
from cloud.db.models import Cabinet, OutboxMessage
from cloud.domain import alarms
from protocols.mqtt.schemas import Command, Config

Kind = Literal["command", "config", "payment"]
LEASE = timedelta(seconds=15)  # a claimed row is another dispatcher's again after this (we crashed)
SENDS_ON_COMMIT = "outbox_sends_on_commit"  # Session.info: commands are published as the caller commits
TO_SEND = "outbox_to_send"  # Session.info: the commands this transaction queued, for its commit
_INSERT = insert(table_of(OutboxMessage))


def enqueue(
    db: Session, kind: Kind, key: str, payload: dict[str, object], expires_at: datetime | None = None
) -> None:
    db.add(OutboxMessage(kind=kind, key=key, payload=payload, expires_at=expires_at, last_error=""))


def send_command(db: Session, command: Command) -> None:
    """A signed command; pointless after it expires (the gateway would refuse it).

    Where a dispatcher publishes on commit (Session.info[SENDS_ON_COMMIT]: an unlock has a resident
    waiting at the door), the row is written already claimed by it for one lease: should this process
    die before the broker has it, another dispatcher sends it when the lease runs out."""
    row = {
        "kind": "command",
        "key": command_key(command),
        "payload": _wire(command),
        "expires_at": command.expires_at,
        "last_error": "",
    }
    if db.info.get(SENDS_ON_COMMIT):
        row |= {"next_attempt_at": datetime.now(UTC) + LEASE, "attempts": 1}
        db.info.setdefault(TO_SEND, []).append(command)
    db.execute(_INSERT, row)  # on the table (Core): an unlock's resident waits, the ORM's flush is slower


def command_key(command: Command) -> str:
    return f"command:{command.command_id}"


def send_config(db: Session, cabinet: Cabinet, config: Config) -> None:
    """A cabinet's signed config, retained; it replaces any older one not yet delivered."""
    key = f"config:{cabinet.code}"
    close(db, key, "superseded")
    enqueue(db, "config", key, {"cabinet": cabinet.code, "version": config.version, "config": _wire(config)})


def config_applied(db: Session, cabinet: Cabinet, version: int) -> None:
    """The gateway reports running `version` in its status (sent at every connect and after applying)."""
    cabinet.config_applied = version
    key = f"config:{cabinet.code}"
    if version >= cabinet.config_version:
        close(db, key, "applied")
        alarms.resolve(db, cabinet, "config_drift")
    else:  # back with an older config (its broker lost the retained one): send ours again now
        db.execute(
            update(OutboxMessage)
            .where(OutboxMessage.key == key, OutboxMessage.done_at.is_(None))
            .values(next_attempt_at=datetime.now(UTC))
        )


def close(db: Session, key: str, outcome: str) -> None:
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.key == key, OutboxMessage.done_at.is_(None))
        .values(done_at=datetime.now(UTC), outcome=outcome)
    )


def retry_at(db: Session, key: str, when: datetime, error: str) -> None:
    """A delivery failed: try again at `when` (the lease its sender held is given up)."""
    db.execute(
        update(OutboxMessage)
        .where(OutboxMessage.key == key, OutboxMessage.done_at.is_(None))
        .values(next_attempt_at=when, last_error=error)
    )


def undone(db: Session, keys: list[str]) -> bool:
    query = select(OutboxMessage.id).where(OutboxMessage.key.in_(keys), OutboxMessage.done_at.is_(None))
    return db.scalar(query.limit(1)) is not None


def pending(db: Session, kind: Kind | None = None) -> list[OutboxMessage]:
    query = select(OutboxMessage).where(OutboxMessage.done_at.is_(None)).order_by(OutboxMessage.id)
    return list(db.scalars(query if kind is None else query.where(OutboxMessage.kind == kind)))


def _wire(model: BaseModel) -> dict[str, object]:
    return model.model_dump(mode="json")
