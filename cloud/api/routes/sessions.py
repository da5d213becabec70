"""Sessions: open a door, follow it live, and the ops review queue."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from typing import Any, Literal

from fastapi import APIRouter, BackgroundTasks, Request
from pydantic import BaseModel, Field
from sqlalchemy import select
from sse_starlette.sse import EventSourceResponse

from cloud import Forbidden, Refused
from cloud.api.deps import ContextDep, CurrentUser, DetachedUser, SessionDep, in_store
from cloud.api.errors import documented
from cloud.api.types import BusIndex, CabinetCode, SessionId
from cloud.db.models import PlanogramLane, Session, User
from cloud.domain import sessions
from cloud.domain.auth import require_role, require_store
from cloud.domain.cabinet_settings import effective_settings
from cloud.domain.fleet import cabinet_by_code
from protocols.mqtt.schemas import LaneDelta
from protocols.mqtt.topics import Channel

router = APIRouter(prefix="/api/v1", tags=["sessions"])


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
    mode: Literal["resident", "restock"] = "resident"


class Review(BaseModel):
    candidate: int | None = Field(None, ge=0, le=255, description="index into the result's candidates")
    lanes: list[LaneDelta] | None = Field(None, max_length=256)
    dismiss: bool = False


def session_view(s: Session) -> dict[str, Any]:
    return {
        "session_id": s.id,
        "status": s.status,
        "detail": s.detail,
        "cabinet_code": s.cabinet.code,
        "door": s.door,
        "mode": s.mode,
        "items": s.items,
        "amount_fen": s.amount_fen,
        "hold_fen": s.hold_fen,
        "created_at": s.created_at.isoformat(),
        "settled_at": s.settled_at.isoformat() if s.settled_at else None,
        "candidates": (s.result or {}).get("candidates", []) if s.status == "review" else [],
        "detected": (s.result or {}).get("lanes", []) if s.mode == "restock" else [],
    }


@router.post("/cabinets/{code}/sessions", status_code=201, responses=documented(401, 403, 404, 409, 413, 422))
def open_door(
    code: CabinetCode,
    user: CurrentUser,
    db: SessionDep,
    context: ContextDep,
    after_commit: BackgroundTasks,
    body: OpenDoor | None = None,
) -> dict[str, Any]:
    """Hold funds and unlock the door; 409 with a reason when it cannot open."""
    body = body or OpenDoor()
    session, command = sessions.open_session(
        db,
        user=user,
        cabinet_code=code,
        door=body.door,
        mode=body.mode,
        signer=context.signer,
        payments=context.payments,
        hold_fen=effective_settings(db, cabinet_by_code(db, code)).hold_fen,  # the cabinet's own hold
    )
    # Background tasks run after SessionDep has committed: the unlock goes out only once the hold is in.
    if context.publisher:
        after_commit.add_task(context.publisher.publish, code, Channel.CMD, command)
    return {"session_id": session.id, "status": session.status}


def _visible(db: SessionDep, session_id: str, user: User) -> Session:
    """Residents see their own sessions; ops those of their store's cabinets (admins all)."""
    session = sessions.get_session(db, session_id)
    if session.user_id == user.id:
        return session
    if user.role not in ("ops", "admin"):
        raise Forbidden("this is not your session")
    require_store(user, session.cabinet.store_id)
    return session


@router.get("/sessions/{session_id}", responses=documented(401, 403, 404, 422))
def get_session(session_id: SessionId, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return session_view(_visible(db, session_id, user))


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
    """Server-sent events: the session as it changes, until it is final."""

    def snapshot() -> dict[str, Any]:
        with context.factory() as db:
            return session_view(_visible(db, session_id, user))

    # Before the stream starts: a stranger or an unknown id gets its 403/404, not an empty 200.
    first = await asyncio.to_thread(snapshot)

    async def changes() -> AsyncIterator[dict[str, Any]]:
        view, last = first, None
        while True:
            if view != last:
                last = view
                yield {"event": "session", "data": _json(view)}
            if view["status"] in sessions.FINAL:
                return
            await asyncio.sleep(0.3)
            if await request.is_disconnected():
                return
            view = await asyncio.to_thread(snapshot)

    return SessionEvents(changes())


def _held(db: SessionDep, session: Session, lanes: list[LaneDelta]) -> None:
    """An explicit basket names lanes the cabinet has, each with the product it holds."""
    rows = db.scalars(select(PlanogramLane).where(PlanogramLane.cabinet_id == session.cabinet_id))
    held = {(r.channel, r.lane): r.product.sku for r in rows}
    for lane in lanes:
        if held.get((lane.channel, lane.lane)) != lane.sku:
            raise Refused(
                f"lane {lane.channel}-{lane.lane} of {session.cabinet.code} does not hold {lane.sku!r}"
            )


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@router.get("/reviews", responses=documented(401, 403))
def review_queue(db: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """Sessions the weights could not settle (in the caller's store), with candidates and weight trace."""
    require_role(user, "ops")
    query = select(Session).where(Session.status == "review", Session.mode == "resident")
    rows = db.scalars(query.order_by(Session.created_at))
    mine = [s for s in rows if in_store(user, s.cabinet.store_id)]
    return [{**session_view(s), "result": s.result} for s in mine]


@router.post("/sessions/{session_id}/review", responses=documented(401, 403, 404, 409, 413, 422))
def resolve(
    session_id: SessionId, body: Review, db: SessionDep, context: ContextDep, user: CurrentUser
) -> dict[str, Any]:
    """Charge a candidate basket, an explicit one, or dismiss (charge nothing)."""
    require_role(user, "ops")
    session = sessions.get_session(db, session_id)
    require_store(user, session.cabinet.store_id)
    lanes = body.lanes
    if lanes:
        _held(db, session, lanes)
    if body.candidate is not None:
        result = session.result or {}
        candidates: list[dict[str, Any]] = list(result.get("candidates", []))  # type: ignore[call-overload]
        if body.candidate >= len(candidates):
            raise Refused(f"no candidate {body.candidate}; there are {len(candidates)}")
        lanes = [LaneDelta.model_validate(lane) for lane in candidates[body.candidate]["lanes"]]
    session = sessions.resolve_review(
        db,
        session_id=session_id,
        lanes=None if body.dismiss else lanes or [],
        actor=user,
        payments=context.payments,
    )
    return session_view(session)
