"""Restock: the store's pick list (JSON, CSV), its inventory, confirming a restock visit."""

from __future__ import annotations

import csv
import io
from datetime import timedelta
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import BusIndex, CabinetCode, Hours, RowId, SessionId, Sku
from cloud.usecases import recalibrations, restocks
from cloud.usecases.recalibrations import RecalibrationView
from cloud.usecases.views import SessionView

router = APIRouter(prefix="/api/v1", tags=["restock"])


class CsvResponse(Response):
    media_type = "text/csv"


class LaneCount(BaseModel):
    channel: BusIndex
    lane: BusIndex
    delta: int = Field(ge=-200, le=200, description="pieces loaded (positive) or pulled (negative)")
    pulled: int | None = Field(
        None, ge=0, le=200,
        description="pieces taken out of a lane that changes product (default 0) or is withheld by the cold "
        "chain (default: all of them, as waste)",
    )  # fmt: skip


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
    reason: str = Field(
        "", max_length=500, description="why a lane ends below zero or above its capacity (else refused)"
    )


def _round(context: ContextDep, user: DetachedUser, store_id: int, interval_hours: float) -> dict[str, Any]:
    return restocks.round_for(context, user, store_id, timedelta(hours=interval_hours)).as_json()


@router.get("/stores/{store_id}/picklist", responses=documented(401, 403, 404, 422))
def picklist(
    store_id: RowId, context: ContextDep, user: DetachedUser, interval_hours: Hours = 24
) -> dict[str, Any]:
    """What to pick in the store, the route, and what to load and pull in each cabinet."""
    return _round(context, user, store_id, interval_hours)


@router.get(
    "/stores/{store_id}/picklist.csv", response_class=CsvResponse, responses=documented(401, 403, 404, 422)
)
def picklist_csv(
    store_id: RowId, context: ContextDep, user: DetachedUser, interval_hours: Hours = 24
) -> CsvResponse:
    plan = _round(context, user, store_id, interval_hours)
    out = io.StringIO()
    writer = csv.writer(out)
    writer.writerow(["stop", "cabinet", "channel", "lane", "sku", "load", "pull", "short", "task"])
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
                        "",
                    ]
                )
        for channel in cabinet["recalibrate"]:  # a scale to tare at this stop (cloud/domain/recalibration.py)
            writer.writerow([stop, cabinet["code"], channel, "", "", "", "", "", "recalibrate"])
    filename = f"picklist-store-{store_id}.csv"
    return CsvResponse(
        "\ufeff" + out.getvalue(),  # a BOM so spreadsheet programs read the Chinese names right
        headers={"Content-Disposition": f'attachment; filename="{filename}"'},
    )


@router.get("/stores/{store_id}/inventory", responses=documented(401, 403, 404, 422))
def inventory(store_id: RowId, context: ContextDep, user: DetachedUser) -> dict[str, int]:
    return restocks.inventory(context, user, store_id)


@router.post("/sessions/{session_id}/restock/confirm", responses=documented(401, 403, 404, 409, 413, 422))
def confirm(
    session_id: SessionId, body: Confirmation, context: ContextDep, user: DetachedUser
) -> SessionView:
    """The staff member confirms (or corrects) what the scales saw: the ledger records transfers."""
    counts = [lane.model_dump() for lane in body.lanes] if body.lanes is not None else None
    return restocks.confirm(context, user, session_id, counts, body.reason)


@router.post(
    "/cabinets/{code}/planogram/changes", status_code=201, responses=documented(401, 403, 404, 409, 413, 422)
)
def change_lane(
    code: CabinetCode, body: LaneChange, context: ContextDep, user: DetachedUser
) -> restocks.PlannedChange:
    """Give a lane another product at the next restock visit (linted before it is accepted)."""
    return restocks.change_lane(
        context, user, code, body.channel, body.lane, body.sku, body.capacity, body.par_level
    )


@router.get("/cabinets/{code}/recalibrations", responses=documented(401, 403, 404, 422))
def recalibrations_due(code: CabinetCode, context: ContextDep, user: DetachedUser) -> list[RecalibrationView]:
    """Load cells of this cabinet to recalibrate at this visit (due, or tared and awaiting readings)."""
    return recalibrations.open_for(context, user, code)


@router.post("/recalibrations/{task_id}/tare", responses=documented(401, 403, 404, 409, 422))
def recalibration_tare(task_id: RowId, context: ContextDep, user: DetachedUser) -> RecalibrationView:
    """The shelf is empty: send the cabinet a signed tare of that channel."""
    return recalibrations.tare(context, user, task_id)
