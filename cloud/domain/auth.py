"""Who is calling: passwords (argon2), one-time codes by SMS, and signed bearer tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud import CloudError, Forbidden
from cloud.db.models import OtpCode, User

log = structlog.get_logger("cloud.auth")
_hasher = PasswordHasher()
OTP_TTL = timedelta(minutes=5)
OTP_MAX_ATTEMPTS = 5


class Unauthorized(CloudError):
    pass


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def login(db: Session, *, username: str, password: str) -> User:
    user = db.scalar(select(User).where(User.name == username))
    try:
        if user is None or user.password_hash is None:
            raise VerificationError
        _hasher.verify(user.password_hash, password)
    except VerificationError:
        raise Unauthorized("wrong user name or password") from None
    return user


# -- one-time codes -----------------------------------------------------------------------


@dataclass
class LogSender:
    """The embedded SMS sender: writes the code to the log (and remembers it for tests)."""

    sent: dict[str, str] = field(default_factory=dict)

    def __call__(self, phone: str, code: str) -> None:
        self.sent[phone] = code
        log.info("one-time code", phone=phone, code=code)


OtpSender = Callable[[str, str], None]


def _digest(phone: str, code: str) -> str:
    return hashlib.sha256(f"{phone}:{code}".encode()).hexdigest()


def request_otp(db: Session, *, phone: str, sender: OtpSender) -> str:
    """Send a 6-digit code to a registered resident; returns it (callers must not leak it)."""
    if db.scalar(select(User).where(User.phone == phone, User.role == "resident")) is None:
        raise Unauthorized("this phone number has no resident account")
    code = f"{secrets.randbelow(1_000_000):06d}"
    db.add(OtpCode(phone=phone, code_hash=_digest(phone, code), expires_at=datetime.now(UTC) + OTP_TTL))
    sender(phone, code)
    return code


def verify_otp(db: Session, *, phone: str, code: str) -> User:
    now = datetime.now(UTC)
    otp = db.scalar(
        select(OtpCode)
        .where(OtpCode.phone == phone, OtpCode.used.is_(False), OtpCode.expires_at > now)
        .order_by(OtpCode.id.desc())
    )
    if otp is None or otp.attempts >= OTP_MAX_ATTEMPTS:
        raise Unauthorized("no valid code for this number: request a new one")
    otp.attempts += 1
    if not hmac.compare_digest(otp.code_hash, _digest(phone, code)):
        raise Unauthorized("wrong code")
    otp.used = True
    user = db.scalar(select(User).where(User.phone == phone))
    assert user is not None
    return user


# -- bearer tokens ------------------------------------------------------------------------


@dataclass(frozen=True)
class TokenSigner:
    """`user_id.expiry.signature`, HMAC-SHA256 with the cloud's secret."""

    secret: bytes
    ttl: timedelta

    def issue(self, user_id: int) -> str:
        expiry = int((datetime.now(UTC) + self.ttl).timestamp())
        body = f"{user_id}.{expiry}"
        return f"{body}.{self._sign(body)}"

    def user_id(self, token: str) -> int:
        try:
            user_id, expiry, signature = token.split(".")
        except ValueError:
            raise Unauthorized("malformed token") from None
        if not hmac.compare_digest(signature, self._sign(f"{user_id}.{expiry}")):
            raise Unauthorized("invalid token")
        if int(expiry) < datetime.now(UTC).timestamp():
            raise Unauthorized("token expired: sign in again")
        return int(user_id)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles and user.role != "admin":
        raise Forbidden(f"this needs the role {' or '.join(roles)}")


def require_store(user: User, store_id: int) -> None:
    """Staff and ops work for one store; admins (and unscoped users) for all."""
    if user.role != "admin" and user.store_id not in (None, store_id):
        raise Forbidden("this belongs to another store")
