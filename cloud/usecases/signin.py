"""Signing in: a one-time code by SMS for residents, a password for staff and ops; both rate-limited
per phone or name, per client address and overall (cloud/domain/throttle.py)."""

from __future__ import annotations

from datetime import timedelta

from pydantic import BaseModel

from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import User
from cloud.domain import auth
from cloud.domain.throttle import Limit


class UserView(BaseModel):
    id: int
    name: str
    role: str
    store_id: int | None
    balance_fen: int
    available_fen: int  # the balance less what open visits hold
    locale: str

    @classmethod
    def of(cls, user: User) -> UserView:
        return cls(
            id=user.id,
            name=user.name,
            role=user.role,
            store_id=user.store_id,
            balance_fen=user.balance_fen,
            available_fen=user.balance_fen - user.held_fen,
            locale=user.locale,
        )


class CodeSent(BaseModel):
    sent: bool
    dev_code: str | None = None  # demo only (dev_show_otp): there is no SMS gateway


class SignedIn(BaseModel):
    token: str
    user: UserView


def request_code(context: CloudContext, phone: str, address: str) -> CodeSent:
    """The answer is the same whether or not the number belongs to a resident."""
    settings = context.settings
    context.throttle.hit(
        Limit("code requests for this phone number", settings.otp_requests_per_phone, phone),
        Limit("code requests from this address", settings.otp_requests_per_ip, address),
        Limit("code requests: the service is busy", settings.otp_requests_total, "all"),
    )
    with transaction(context.factory) as db:
        code = auth.request_otp(db, phone=phone, sender=context.otp_sender)
    return CodeSent(sent=True, dev_code=code if settings.dev_show_otp else None)


def verify_code(context: CloudContext, phone: str, code: str, address: str) -> SignedIn:
    settings = context.settings
    context.throttle.hit(
        Limit("codes tried for this phone number", settings.otp_verifies_per_phone, phone),
        Limit("codes tried from this address", settings.otp_verifies_per_ip, address),
        Limit("codes tried: the service is busy", settings.otp_verifies_total, "all"),
    )
    # Its own transactions: a wrong guess is counted even though the answer is an error.
    user = auth.verify_otp(context.factory, phone=phone, code=code, max_attempts=settings.otp_max_attempts)
    return SignedIn(token=context.tokens.issue(user.id), user=UserView.of(user))


def login(context: CloudContext, username: str, password: str, address: str) -> SignedIn:
    settings = context.settings
    context.throttle.hit(
        Limit("sign-ins for this name", settings.logins_per_name, username),
        Limit("sign-ins from this address", settings.logins_per_ip, address),
    )
    # Its own transactions: a wrong password is counted even though the answer is an error.
    user = auth.login(
        context.factory,
        username=username,
        password=password,
        max_failures=settings.login_max_failures,
        lockout=timedelta(seconds=settings.login_lockout_s),
    )
    return SignedIn(token=context.tokens.issue(user.id), user=UserView.of(user))
