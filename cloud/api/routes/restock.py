"""Restock: the store's pick list (JSON, CSV), its inventory, confirming a restock visit."""

from __future__ import annotations

import csv
import io
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Response
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, CurrentUser, SessionDep
from cloud.api.routes.sessions import session_view
from cloud.domain import planogram_changes, restock, store_inventory
from cloud.domain.auth import require_role, require_store
from cloud.domain.fleet import config_payload
from protocols.mqtt.topics import Channel
from protocols.signing import sign

router = APIRouter(prefix="/api/v1", tags=["restock"])


class LaneCount(BaseModel):
    channel: int = Field(ge=0)
    lane: int = Field(ge=0)
    delta: int = Field(ge=-200, le=200, description="pieces loaded (positive) or pulled (negative)")
    pulled: int = Field(0, ge=0, le=200, description="old pieces taken out of a lane that changes product")


class LaneChange(BaseModel):
    channel: int = Field(ge=0)
    lane: int = Field(ge=0)
    sku: str
    capacity: int | None = Field(None, ge=1, le=200)
    par_level: int | None = Field(None, ge=0, le=200)


class Confirmation(BaseModel):
    lanes: list[LaneCount] | None = Field(None, description="corrections; leave out to confirm as detected")


def _round(db: SessionDep, user: CurrentUser, store_id: int, interval_hours: float) -> restock.Round:
    from datetime import timedelta

    require_role(user, "staff", "ops")
    require_store(user, store_id)
    return restock.restock_round(db, store_id, interval=timedelta(hours=interval_hours))


@router.get("/stores/{store_id}/picklist")
def picklist(store_id: int, db: SessionDep, user: CurrentUser, interval_hours: float = 24) -> dict[str, Any]:
    """What to pick in the store, the route, and what to load and pull in each cabinet."""
    return _round(db, user, store_id, interval_hours).as_json()


@router.get("/stores/{store_id}/picklist.csv")
def picklist_csv(store_id: int, db: SessionDep, user: CurrentUser, interval_hours: float = 24) -> Response:
    plan = _round(db, user, store_id, interval_hours).as_json()
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["stop", "cabinet", "channel", "lane", "sku", "load", "pull", "short"])
    for stop, cabinet in enumerate(plan["cabinets"], 1):
        for lane in cabinet["lanes"]:
            if lane["load"] or lane["pull"] or lane["short"]:
                writer.writerow(
                    [
                        stop,
                        cabinet["code"],
                        lane["channel"],
                        lane["lane"],
                        lane["sku"],
                        lane["load"],
                        lane["pull"],
                        lane["short"],
                    ]
                )
    filename = f"picklist-store-{store_id}.csv"
    return Response(
        "\ufeff" + out.getvalue(),  # a BOM so spreadsheet programs read the Chinese names right
        media_type="text/csv; charset=utf-8",
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/stores/{store_id}/inventory")
def inventory(store_id: int, db: SessionDep, user: CurrentUser) -> dict[str, int]:
    require_role(user, "staff", "ops")
    require_store(user, store_id)
    return store_inventory.on_hand(db, store_id)


@router.post("/sessions/{session_id}/restock/confirm")
def confirm(
    session_id: str,
    body: Confirmation,
    db: SessionDep,
    context: ContextDep,
    user: CurrentUser,
    after_commit: BackgroundTasks,
) -> dict[str, Any]:
    """The staff member confirms (or corrects) what the scales saw: the ledger records transfers."""
    counts = [lane.model_dump() for lane in body.lanes] if body.lanes is not None else None
    session, changed = restock.confirm_restock(db, session_id=session_id, actor=user, counts=counts)
    cabinet = session.cabinet
    if changed and context.publisher:
        # Committed first: the gateway infers with the new planogram from its next session on.
        config = sign(config_payload(db, cabinet), context.keys.private)
        after_commit.add_task(context.publisher.publish, cabinet.code, Channel.CONFIG, config, retain=True)
    return session_view(session)


@router.post("/cabinets/{code}/planogram/changes", status_code=201)
def change_lane(code: str, body: LaneChange, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    """Give a lane another product at the next restock visit (linted before it is accepted)."""
    change = planogram_changes.request_change(
        db,
        cabinet_code=code,
        channel=body.channel,
        lane=body.lane,
        sku=body.sku,
        capacity=body.capacity,
        par_level=body.par_level,
        actor=user,
    )
    return {
        "id": change.id,
        "channel": change.channel,
        "lane": change.lane,
        "sku": body.sku,
        "capacity": change.capacity,
        "par_level": change.par_level,
    }
