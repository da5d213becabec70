"""Recalibrating a drifting load cell on the cabinet's next restock visit.

The gateway raises scale_drift with its figures: a task is due for that channel. At the visit the
staff member empties the shelf and the cloud sends a signed tare through the outbox (or the staff
member checks with a known weight). The task is done only when the gateway clears scale_drift from
the readings after the tare: the readings verify the recalibration, not the click.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import NotFound, Refused
from cloud.commands import CommandSigner
from cloud.db.models import Cabinet, ScaleRecalibration, User
from cloud.domain import outbox
from cloud.domain.auth import require_role, require_store
from cloud.domain.fleet import cabinet_by_code
from protocols.mqtt.schemas import AlarmEvent

OPEN = ("due", "tared")


def _open(db: Session, cabinet_id: int, channel: int) -> ScaleRecalibration | None:
    return db.scalar(
        select(ScaleRecalibration).where(
            ScaleRecalibration.cabinet_id == cabinet_id,
            ScaleRecalibration.channel == channel,
            ScaleRecalibration.state.in_(OPEN),
        )
    )


def follow(db: Session, cabinet: Cabinet, event: AlarmEvent) -> None:
    """A gateway's scale_drift: raised opens the task (once), cleared closes it."""
    if event.alarm != "scale_drift" or event.channel is None:
        return
    task = _open(db, cabinet.id, event.channel)
    if event.state == "raised" and task is None:
        drift = event.scale.drift_g_per_h if event.scale else None
        db.add(
            ScaleRecalibration(
                cabinet_id=cabinet.id, channel=event.channel, drift_g_per_h=drift, opened_at=event.ts
            )
        )
    elif event.state == "cleared" and task is not None:
        task.state, task.done_at = "done", event.ts


def due_by_cabinet(db: Session, cabinet_ids: list[int]) -> dict[int, list[int]]:
    """The channels still to tare, per cabinet: the store's round lists them at each stop."""
    query = select(ScaleRecalibration.cabinet_id, ScaleRecalibration.channel).where(
        ScaleRecalibration.cabinet_id.in_(cabinet_ids), ScaleRecalibration.state == "due"
    )
    due: dict[int, list[int]] = {}
    for cabinet_id, channel in db.execute(query.order_by(ScaleRecalibration.channel)):
        due.setdefault(cabinet_id, []).append(channel)
    return due


def open_tasks(db: Session, cabinet_code: str, actor: User) -> list[ScaleRecalibration]:
    cabinet = cabinet_by_code(db, cabinet_code)
    require_role(actor, "staff", "ops")
    require_store(actor, cabinet.store_id)
    query = select(ScaleRecalibration).where(
        ScaleRecalibration.cabinet_id == cabinet.id, ScaleRecalibration.state.in_(OPEN)
    )
    return list(db.scalars(query.order_by(ScaleRecalibration.channel)))


def tare(db: Session, *, task_id: int, actor: User, signer: CommandSigner) -> ScaleRecalibration:
    """The shelf is empty: queue the signed tare of its channel (again, if the last one was lost)."""
    require_role(actor, "staff")
    task = db.get(ScaleRecalibration, task_id)
    if task is None:
        raise NotFound(f"no recalibration {task_id}", code="no_recalibration", task=task_id)
    require_store(actor, task.cabinet.store_id)
    if task.state not in OPEN:
        raise Refused("this recalibration is done", code="recalibration_done", task=task_id)
    command = signer.tare(task.cabinet.code, task.channel)
    outbox.send_command(db, command)
    task.state, task.tared_by, task.tared_at = "tared", actor.id, datetime.now(UTC)
    task.command_id = str(command.command_id)
    return task
