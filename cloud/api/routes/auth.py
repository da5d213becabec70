"""Sign-in: residents by phone and one-time code, staff and ops by password.

Every sign-in route is rate limited (per phone or name, per client address, overall) before
anything is evaluated, and answers the same for registered and unknown phones and names.
"""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Request
from pydantic import BaseModel, Field

from cloud.api.deps import ContextDep, DetachedUser
from cloud.api.errors import documented
from cloud.api.types import Password, UserName
from cloud.usecases import signin
from cloud.usecases.signin import CodeSent, SignedIn, UserView

router = APIRouter(prefix="/api/v1/auth", tags=["auth"])


class OtpRequest(BaseModel):
    phone: str = Field(pattern=r"^\+?[0-9]{6,15}$")


class OtpVerify(OtpRequest):
    code: str = Field(pattern=r"^[0-9]{6}$")


class Login(BaseModel):
    username: UserName
    password: Password


def client_address(request: Request) -> str:
    return request.client.host if request.client else "unknown"


AddressDep = Annotated[str, Depends(client_address)]


@router.post("/otp/request", response_model_exclude_none=True, responses=documented(401, 413, 422, 429))
def request_code(body: OtpRequest, address: AddressDep, context: ContextDep) -> CodeSent:
    """Send a one-time code by SMS (the embedded sender writes it to the log).

    The answer is the same whether or not the number belongs to a resident."""
    return signin.request_code(context, body.phone, address)


@router.post("/otp/verify", responses=documented(401, 413, 422, 429))
def verify_code(body: OtpVerify, address: AddressDep, context: ContextDep) -> SignedIn:
    return signin.verify_code(context, body.phone, body.code, address)


@router.post("/login", responses=documented(401, 413, 422, 429))
def login(body: Login, address: AddressDep, context: ContextDep) -> SignedIn:
    return signin.login(context, body.username, body.password, address)


@router.get("/me", responses=documented(401))
def me(user: DetachedUser) -> UserView:
    return UserView.of(user)
