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
from cloud.api.deps import ContextDep, CurrentUser, SessionDep
from cloud.db.models import Session, User
from cloud.domain import sessions
from cloud.domain.auth import require_role
from protocols.mqtt.schemas import LaneDelta
from protocols.mqtt.topics import Channel

router = APIRouter(prefix="/api/v1", tags=["sessions"])


class OpenDoor(BaseModel):
    door: int = Field(0, ge=0, le=255)
    mode: Literal["resident", "restock"] = "resident"


class Review(BaseModel):
    candidate: int | None = Field(None, ge=0, description="index into the result's candidates")
    lanes: list[LaneDelta] | None = None
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


@router.post("/cabinets/{code}/sessions", status_code=201)
def open_door(
    code: str,
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
        hold_fen=context.settings.hold_fen,
    )
    # Background tasks run after SessionDep has committed: the unlock goes out only once the hold is in.
    if context.publisher:
        after_commit.add_task(context.publisher.publish, code, Channel.CMD, command)
    return {"session_id": session.id, "status": session.status}


def _visible(db: SessionDep, session_id: str, user: User) -> Session:
    session = sessions.get_session(db, session_id)
    if session.user_id != user.id and user.role not in ("ops", "admin"):
        raise Forbidden("this is not your session")
    return session


@router.get("/sessions/{session_id}")
def get_session(session_id: str, db: SessionDep, user: CurrentUser) -> dict[str, Any]:
    return session_view(_visible(db, session_id, user))


@router.get("/sessions/{session_id}/stream")
async def stream_session(
    session_id: str, request: Request, context: ContextDep, user: CurrentUser
) -> EventSourceResponse:
    """Server-sent events: the session as it changes, until it is final."""

    def snapshot() -> dict[str, Any]:
        with context.factory() as db:
            return session_view(_visible(db, session_id, user))

    async def changes() -> AsyncIterator[dict[str, Any]]:
        last = None
        while not await request.is_disconnected():
            view = await asyncio.to_thread(snapshot)
            if view != last:
                last = view
                yield {"event": "session", "data": _json(view)}
            if view["status"] in sessions.FINAL:
                return
            await asyncio.sleep(0.3)

    return EventSourceResponse(changes())


def _json(value: Any) -> str:
    import json

    return json.dumps(value, ensure_ascii=False)


@router.get("/reviews")
def review_queue(db: SessionDep, user: CurrentUser) -> list[dict[str, Any]]:
    """Sessions the weights could not settle, with their candidates and weight trace."""
    require_role(user, "ops")
    query = select(Session).where(Session.status == "review", Session.mode == "resident")
    rows = db.scalars(query.order_by(Session.created_at))
    return [{**session_view(s), "result": s.result} for s in rows]


@router.post("/sessions/{session_id}/review")
def resolve(
    session_id: str, body: Review, db: SessionDep, context: ContextDep, user: CurrentUser
) -> dict[str, Any]:
    """Charge a candidate basket, an explicit one, or dismiss (charge nothing)."""
    lanes = body.lanes
    if body.candidate is not None:
        result = sessions.get_session(db, session_id).result or {}
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
