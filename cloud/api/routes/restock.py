"""Restock: the store's pick list (JSON, CSV), its inventory, confirming a restock visit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, BackgroundTasks, Response
from pydantic import BaseModel, Field

from cloud import NotFound
from cloud.api.deps import ContextDep, CurrentUser, SessionDep
from cloud.api.errors import documented
from cloud.api.routes.sessions import session_view
from cloud.api.types import BusIndex, CabinetCode, Hours, RowId, SessionId, Sku
from cloud.config_push import publish_configs, signed_config
from cloud.db.models import Store
from cloud.domain import planogram_changes, restock, store_inventory
from cloud.domain.auth import require_role, require_store

router = APIRouter(prefix="/api/v1", tags=["restock"])


class CsvResponse(Response):
    media_type = "text/csv"


class LaneCount(BaseModel):
    channel: BusIndex
    lane: BusIndex
    delta: int = Field(ge=-200, le=200, description="pieces loaded (positive) or pulled (negative)")
    pulled: int = Field(0, ge=0, le=200, description="old pieces taken out of a lane that changes product")


class LaneChange(BaseModel):
    channel: BusIndex
    lane: BusIndex
    sku: Sku
    capacity: int | None = Field(None, ge=1, le=200)
    par_level: int | None = Field(None, ge=0, le=200)


class Confirmation(BaseModel):
    lanes: list[LaneCount] | None = Field(
        None, max_length=1024, description="corrections; leave out to confirm as detected"
    )


def _round(db: SessionDep, user: CurrentUser, store_id: int, interval_hours: float) -> restock.Round:
    require_role(user, "staff", "ops")
    require_store(user, store_id)
    return restock.restock_round(db, store_id, interval=timedelta(hours=interval_hours))


@router.get("/stores/{store_id}/picklist", responses=documented(401, 403, 404, 422))
def picklist(
    store_id: RowId, db: SessionDep, user: CurrentUser, interval_hours: Hours = 24
) -> dict[str, Any]:
    """What to pick in the store, the route, and what to load and pull in each cabinet."""
    return _round(db, user, store_id, interval_hours).as_json()


@router.get(
    "/stores/{store_id}/picklist.csv", response_class=CsvResponse, responses=documented(401, 403, 404, 422)
)
def picklist_csv(
    store_id: RowId, db: SessionDep, user: CurrentUser, interval_hours: Hours = 24
) -> CsvResponse:
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
    return CsvResponse(
        "\ufeff" + out.getvalue(),  # a BOM so spreadsheet programs read the Chinese names right
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/stores/{store_id}/inventory", responses=documented(401, 403, 404, 422))
def inventory(store_id: RowId, db: SessionDep, user: CurrentUser) -> dict[str, int]:
    require_role(user, "staff", "ops")
    require_store(user, store_id)
    if db.get(Store, store_id) is None:
        raise NotFound(f"no store {store_id}")
    return store_inventory.on_hand(db, store_id)


@router.post("/sessions/{session_id}/restock/confirm", responses=documented(401, 403, 404, 409, 413, 422))
def confirm(
    session_id: SessionId,
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
        after_commit.add_task(publish_configs, context, [signed_config(context, db, cabinet)])
    return session_view(session)


@router.post(
    "/cabinets/{code}/planogram/changes", status_code=201, responses=documented(401, 403, 404, 409, 413, 422)
)
def change_lane(code: CabinetCode, body: LaneChange, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
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
