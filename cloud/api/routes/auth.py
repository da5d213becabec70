"""Sign-in: residents by phone and one-time code, staff and ops by password.

Every sign-in route is rate limited (per phone or name, per client address, overall) before
anything is evaluated, and answers the same for registered and unknown phones and names.
"""

from __future__ import annotations

import threading
from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, CurrentUser, SessionDep
from cloud.api.errors import documented
from cloud.api.types import Password, UserName
from cloud.db.models import User
from cloud.domain import auth
from cloud.domain.throttle import Limit, Throttle

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class OtpRequest(BaseModel):
    phone: str = Field(pattern=r"^\+?[0-9]{6,15}$")


class OtpVerify(OtpRequest):
    code: str = Field(pattern=r"^[0-9]{6}$")


class Login(BaseModel):
    username: UserName
    password: Password


_throttle_lock = threading.Lock()


def get_throttle(request: Request, context: ContextDep) -> Throttle:
    """One throttle per app: its own memory, or the Redis it shares with other API processes."""
    state = request.app.state
    with _throttle_lock:
        if not hasattr(state, "throttle"):
            state.throttle = Throttle(context.settings.throttle_storage)
    throttle: Throttle = state.throttle
    return throttle


ThrottleDep = Annotated[Throttle, Depends(get_throttle)]


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


AddressDep = Annotated[str, Depends(client_address)]


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
def request_code(
    body: OtpRequest, address: AddressDep, db: SessionDep, context: ContextDep, throttle: ThrottleDep
) -> dict[str, Any]:
    """Send a one-time code by SMS (the embedded sender writes it to the log).

    The answer is the same whether or not the number belongs to a resident."""
    settings = context.settings
    throttle.hit(
        Limit("code requests for this phone number", settings.otp_requests_per_phone, body.phone),
        Limit("code requests from this address", settings.otp_requests_per_ip, address),
        Limit("code requests: the service is busy", settings.otp_requests_total, "all"),
    )
    code = auth.request_otp(db, phone=body.phone, sender=context.otp_sender)
    answer: dict[str, Any] = {"sent": True}
    if settings.dev_show_otp:
        answer["dev_code"] = code  # demo only: there is no SMS gateway
    return answer


@router.post("/otp/verify", responses=documented(401, 413, 422, 429))
def verify_code(
    body: OtpVerify, address: AddressDep, context: ContextDep, throttle: ThrottleDep
) -> dict[str, Any]:
    settings = context.settings
    throttle.hit(
        Limit("codes tried for this phone number", settings.otp_verifies_per_phone, body.phone),
        Limit("codes tried from this address", settings.otp_verifies_per_ip, address),
        Limit("codes tried: the service is busy", settings.otp_verifies_total, "all"),
    )
    # Its own transactions: a wrong guess is counted even though the answer is an error.
    user = auth.verify_otp(
        context.factory, phone=body.phone, code=body.code, max_attempts=settings.otp_max_attempts
    )
    return {"token": context.tokens.issue(user.id), "user": user_view(user)}


@router.post("/login", responses=documented(401, 413, 422, 429))
def login(body: Login, address: AddressDep, context: ContextDep, throttle: ThrottleDep) -> dict[str, Any]:
    settings = context.settings
    throttle.hit(
        Limit("sign-ins for this name", settings.logins_per_name, body.username),
        Limit("sign-ins from this address", settings.logins_per_ip, address),
    )
    # Its own transactions: a wrong password is counted even though the answer is an error.
    user = auth.login(
        context.factory,
        username=body.username,
        password=body.password,
        max_failures=settings.login_max_failures,
        lockout=timedelta(seconds=settings.login_lockout_s),
    )
    return {"token": context.tokens.issue(user.id), "user": user_view(user)}


@router.get("/me", responses=documented(401))
def me(user: CurrentUser) -> dict[str, Any]:
    return user_view(user)
