"""Sign-in: residents by phone and one-time code, staff and ops by password."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, CurrentUser, SessionDep
from cloud.api.errors import documented
from cloud.api.types import Password, UserName
from cloud.db.models import User
from cloud.domain import auth

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class OtpRequest(BaseModel):
    phone: str = Field(pattern=r"^\+?[0-9]{6,15}$")


class OtpVerify(OtpRequest):
    code: str = Field(pattern=r"^[0-9]{6}$")


class Login(BaseModel):
    username: UserName
    password: Password


def user_view(user: User) -> dict[str, Any]:
    return {
        "id": user.id,
        "name": user.name,
        "role": user.role,
        "store_id": user.store_id,
        "balance_fen": user.balance_fen,
        "available_fen": user.balance_fen - user.held_fen,
        "locale": user.locale,
    }


@router.post("/otp/request", responses=documented(401, 413, 422, 429))
def request_code(body: OtpRequest, db: SessionDep, context: ContextDep) -> dict[str, Any]:
    """Send a one-time code by SMS (the embedded sender writes it to the log)."""
    code = auth.request_otp(db, phone=body.phone, sender=context.otp_sender)
    answer: dict[str, Any] = {"sent": True}
    if context.settings.dev_show_otp:
        answer["dev_code"] = code  # demo only: there is no SMS gateway
    return answer


@router.post("/otp/verify", responses=documented(401, 413, 422, 429))
def verify_code(body: OtpVerify, db: SessionDep, context: ContextDep) -> dict[str, Any]:
    user = auth.verify_otp(db, phone=body.phone, code=body.code)
    return {"token": context.tokens.issue(user.id), "user": user_view(user)}


@router.post("/login", responses=documented(401, 413, 422, 429))
def login(body: Login, db: SessionDep, context: ContextDep) -> dict[str, Any]:
    user = auth.login(db, username=body.username, password=body.password)
    return {"token": context.tokens.issue(user.id), "user": user_view(user)}


@router.get("/me", responses=documented(401))
def me(user: CurrentUser) -> dict[str, Any]:
    return user_view(user)
