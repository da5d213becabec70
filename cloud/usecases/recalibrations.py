"""Scale recalibrations at a restock visit: the tasks of a cabinet, and the tare that starts one."""

from __future__ import annotations

from datetime import datetime

from pydantic import BaseModel

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import ScaleRecalibration, User
from cloud.domain import recalibration


class RecalibrationView(BaseModel):
    id: int
    cabinet: str
    channel: int
    state: str  # due | tared | done
    drift_g_per_h: float | None
    opened_at: datetime
    tared_at: datetime | None

    @classmethod
    def of(cls, task: ScaleRecalibration) -> RecalibrationView:
        return cls(
            id=task.id,
            cabinet=task.cabinet.code,
            channel=task.channel,
            state=task.state,
            drift_g_per_h=task.drift_g_per_h,
            opened_at=task.opened_at,
            tared_at=task.tared_at,
        )


def open_for(context: CloudContext, user: User, cabinet_code: str) -> list[RecalibrationView]:
    with context.factory() as db:
        return [RecalibrationView.of(t) for t in recalibration.open_tasks(db, cabinet_code, user)]


def tare(context: CloudContext, user: User, task_id: int) -> RecalibrationView:
    """Queue the signed tare and mark the task in one transaction; the dispatcher sends it at once."""
    with transaction(context.factory) as db:
        view = RecalibrationView.of(
            recalibration.tare(db, task_id=task_id, actor=user, signer=context.signer)
        )
    context.outbox_committed()
    return view
