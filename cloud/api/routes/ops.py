"""Ops: the fleet at a glance and on a map, a cabinet's readings and sessions, alarms."""

from __future__ import annotations

import json
from typing import Annotated, Literal

from fastapi import APIRouter, Query, Response
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import INT32_MAX, CabinetCode, CabinetFilter, Hours, Limit, RowId
from cloud.domain.alarms import AlarmFilter
from cloud.domain.fleet import FleetState
from cloud.usecases import oversight
from cloud.usecases.oversight import AlarmView, Fleet, Readings
from cloud.usecases.views import ReviewView

router = APIRouter(prefix="/api/v1", tags=["ops"])

StoreFilter = Annotated[str | None, Query(min_length=1, max_length=32, description="a store code")]
Page = Annotated[int, Query(ge=1, le=1_000_000)]
PageSize = Annotated[int, Query(ge=1, le=500)]


class FleetMap(BaseModel):
    """Every cabinet of the filter as [code, lat, lon, ok|offline|alarm]: compact, for a clustered map."""

    points: list[list[str | float]] = Field(description="[code, lat, lon, state] per cabinet")


@router.get("/alarms", responses=documented(401, 403, 404, 422))
def list_alarms(
    context: ContextDep,
    user: DetachedUser,
    response: Response,
    state: Literal["open", "acknowledged", "resolved"] | None = None,
    kind: Annotated[str | None, Query(min_length=1, max_length=24)] = None,
    store: Annotated[int | None, Query(ge=1, le=INT32_MAX)] = None,
    cabinet: CabinetFilter = None,
    page: Annotated[int, Query(ge=1, le=100_000)] = 1,
    page_size: Annotated[int, Query(ge=1, le=200)] = 200,
) -> list[AlarmView]:
    """Alarms of the caller's store, newest first, filtered and one page at a time.

    `state=open` gives every one not yet resolved; the header `X-Total-Count` says how many match."""
    which = AlarmFilter(state=state, kind=kind, store_id=store)
    found, total = oversight.alarm_page(context, user, which, cabinet, page, page_size)
    response.headers["X-Total-Count"] = str(total)
    return found


@router.post("/alarms/{alarm_id}/ack", responses=documented(401, 403, 404, 422))
def acknowledge(alarm_id: RowId, context: ContextDep, user: DetachedUser) -> AlarmView:
    return oversight.acknowledge(context, user, alarm_id)


@router.get("/fleet", responses=documented(401, 403, 422))
def fleet(
    context: ContextDep,
    user: DetachedUser,
    state: FleetState | None = None,
    store: StoreFilter = None,
    page: Page = 1,
    page_size: PageSize = 100,
) -> Fleet:
    """A page of the caller's cabinets (by code): state, latest readings, open alarms; and the counts."""
    return oversight.fleet(context, user, store, state, page, page_size)


@router.get("/fleet/map", responses=documented(401, 403, 422), response_model=FleetMap)
def fleet_map(
    context: ContextDep, user: DetachedUser, state: FleetState | None = None, store: StoreFilter = None
) -> Response:
    """Every cabinet of the caller's scope where it stands and how it is, in a few bytes each."""
    points = oversight.fleet_map(context, user, store, state)
    # Built from typed rows already: skip re-validating ten thousand tuples on the way out.
    return Response(json.dumps({"points": points}, separators=(",", ":")), media_type="application/json")


@router.get("/cabinets/{code}/telemetry", responses=documented(401, 403, 404, 422))
def cabinet_telemetry(
    code: CabinetCode, context: ContextDep, user: DetachedUser, hours: Hours = 6
) -> Readings:
    """One-minute temperature roll-ups (min/mean/max, door open) and the latest sample."""
    return oversight.readings(context, user, code, hours)


@router.get("/cabinets/{code}/sessions", responses=documented(401, 403, 404, 422))
def cabinet_sessions(
    code: CabinetCode, context: ContextDep, user: DetachedUser, limit: Limit = 20
) -> list[ReviewView]:
    """Recent sessions with their sensor trace: baseline and final weights, inference, confidence."""
    return oversight.recent_sessions(context, user, code, limit)
