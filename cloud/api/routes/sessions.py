"""Sessions: open a door, follow it live, and the ops review queue. Each route calls one use case."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from typing import Any

from fastapi import APIRouter, Request
from pydantic import BaseModel, Field
from sse_starlette.sse import EventSourceResponse

from cloud.api.deps import CallerId, ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import BusIndex, CabinetCode, SessionId
from cloud.domain.sessions import Decision
from cloud.usecases import visits
from cloud.usecases.views import ReviewView, SessionView
from protocols.mqtt.schemas import LaneDelta

router = APIRouter(prefix="/api/v1", tags=["sessions"])
POLL_S = 0.3
WAITING_POLL_S = 2.0  # a review may wait for ops for hours: look less often


class SessionEvents(EventSourceResponse):
    media_type = "text/event-stream"


# One server-sent event (Open API 3.1: an event stream's schema describes each event).
SESSION_EVENT: dict[str, Any] = {
    "type": "object",
    "properties": {
        "event": {"const": "session"},
        "data": {"type": "string", "description": "the session as JSON, as GET /sessions/{session_id}"},
    },
    "required": ["event", "data"],
}


class OpenDoor(BaseModel):
    door: BusIndex = 0
    mode: visits.Mode = "resident"


class Choice(BaseModel):
    offer: int | None = Field(description="index into the session's `offers`; null: none of them is right")


class Review(BaseModel):
    candidate: int | None = Field(None, ge=0, le=255, description="index into the result's candidates")
    lanes: list[LaneDelta] | None = Field(None, max_length=256)
    dismiss: bool = False


@router.post("/cabinets/{code}/sessions", status_code=201, responses=documented(401, 403, 404, 409, 413, 422))
def open_door(
    code: CabinetCode, caller: CallerId, context: ContextDep, body: OpenDoor | None = None
) -> SessionView:
    """Hold funds and unlock the door; 409 with a reason when it cannot open."""
    body = body or OpenDoor()
    return visits.open_door(context, caller, code, body.door, body.mode)


@router.get("/sessions/{session_id}", responses=documented(401, 403, 404, 422))
def get_session(session_id: SessionId, context: ContextDep, user: DetachedUser) -> SessionView:
    return visits.show(context, user, session_id)


@router.get(
    "/sessions/{session_id}/stream",
    response_class=SessionEvents,
    responses={
        200: {"content": {SessionEvents.media_type: {"schema": SESSION_EVENT}}},
        **documented(401, 403, 404, 422),
    },
)
async def stream_session(
    session_id: SessionId, request: Request, context: ContextDep, user: DetachedUser
) -> SessionEvents:
    """Server-sent events: the session as it changes, until its phase is final."""
    # Before the stream starts: a stranger or an unknown id gets its 403/404, not an empty 200.
    first = await asyncio.to_thread(visits.show, context, user, session_id)

    async def changes() -> AsyncIterator[dict[str, Any]]:
        view, last = first, None
        while True:
            if view != last:
                last = view
                yield {
                    "event": "session",
                    "data": json.dumps(view.model_dump(mode="json"), ensure_ascii=False),
                }
            if view.phase == "final":
                return
            await asyncio.sleep(POLL_S if view.phase == "live" else WAITING_POLL_S)
            if await request.is_disconnected():
                return
            view = await asyncio.to_thread(visits.show, context, user, session_id)

    return SessionEvents(changes())


@router.post("/sessions/{session_id}/choice", responses=documented(401, 403, 404, 409, 413, 422))
def choose(session_id: SessionId, body: Choice, context: ContextDep, user: DetachedUser) -> SessionView:
    """The resident says which offered basket they took (charged at once), or none (ops review)."""
    return visits.choose(context, user, session_id, body.offer)


@router.get("/reviews", responses=documented(401, 403))
def review_queue(context: ContextDep, user: DetachedUser) -> list[ReviewView]:
    """Sessions the weights could not settle (in the caller's store), with candidates and weight trace."""
    return visits.review_queue(context, user)


@router.post("/sessions/{session_id}/review", responses=documented(401, 403, 404, 409, 413, 422))
def resolve(session_id: SessionId, body: Review, context: ContextDep, user: DetachedUser) -> SessionView:
    """Charge a candidate basket, an explicit one, or dismiss (charge nothing)."""
    decision = Decision(body.candidate, body.lanes, body.dismiss)
    return visits.resolve_review(context, user, session_id, decision)
