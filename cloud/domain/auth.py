"""Who is calling: passwords (argon2), one-time codes by SMS, and signed bearer tokens."""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import cache

import structlog
from argon2 import PasswordHasher
from argon2.exceptions import VerificationError
from sqlalchemy import case, delete, or_, select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session, sessionmaker

from cloud import CloudError, Forbidden
from cloud.db.engine import rowcount, transaction
from cloud.db.models import LoginFailure, OtpCode, User
from cloud.domain.throttle import Throttled

log = structlog.get_logger("cloud.auth")
_hasher = PasswordHasher()
OTP_TTL = timedelta(minutes=5)
# One answer for every failure, so it tells nobody whether a name or number is registered.
WRONG_CREDENTIALS = "wrong user name or password"
WRONG_CODE = "wrong or expired code: check it, or ask for a new one"


class Unauthorized(CloudError):
    code = "unauthorized"


def hash_password(password: str) -> str:
    return _hasher.hash(password)


def login(
    factory: sessionmaker[Session], *, username: str, password: str, max_failures: int, lockout: timedelta
) -> User:
    """The user behind a right password. The attempt is counted and committed before the password
    is checked, so parallel guesses cannot overrun the lockout; a success clears the count."""
    now = datetime.now(UTC)
    with transaction(factory) as db:
        locked_for = _count_attempt(db, username, now, max_failures, lockout)
    if locked_for is not None:
        raise Throttled("too many failed sign-ins for this name", locked_for.total_seconds())
    with transaction(factory) as db:
        user = _owner_of(db, username, password)
        if user is not None:
            db.execute(delete(LoginFailure).where(LoginFailure.name == username))
            return user
    raise Unauthorized(WRONG_CREDENTIALS, code="wrong_password")


def _count_attempt(
    db: Session, name: str, now: datetime, max_failures: int, lockout: timedelta
) -> timedelta | None:
    """Count the attempt as a failure (until it succeeds); the time left if the name is locked."""
    _insert_if_missing(db, {"name": name, "failures": 0, "last_attempt_at": now})
    stale = LoginFailure.last_attempt_at <= now - lockout  # a new series of failures
    counted = db.execute(
        update(LoginFailure)
        .where(LoginFailure.name == name, or_(LoginFailure.failures < max_failures, stale))
        .values(failures=case((stale, 1), else_=LoginFailure.failures + 1), last_attempt_at=now)
    )
    if rowcount(counted) == 1:
        return None
    last = db.scalar(select(LoginFailure.last_attempt_at).where(LoginFailure.name == name))
    assert last is not None
    return last + lockout - now


def _insert_if_missing(db: Session, row: dict[str, object]) -> None:
    # INSERT … ON CONFLICT DO NOTHING: parallel first attempts for a name cannot collide.
    if db.get_bind().dialect.name == "postgresql":
        db.execute(postgresql.insert(LoginFailure).values(row).on_conflict_do_nothing())
    else:
        db.execute(sqlite.insert(LoginFailure).values(row).on_conflict_do_nothing())


def _owner_of(db: Session, name: str, password: str) -> User | None:
    """The user of this name if the password is theirs."""
    user = db.scalar(select(User).where(User.name == name))
    stored = user.password_hash if user is not None else None
    # Unknown names and password-less accounts cost one argon2 verify too: the timing tells nothing.
    try:
        _hasher.verify(stored or _dummy_hash(), password)
    except VerificationError:
        return None
    return user if stored else None


@cache
def _dummy_hash() -> str:
    return _hasher.hash(secrets.token_urlsafe(32))


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
    """A new 6-digit code for this number, replacing any earlier one; returns it (callers must not
    leak it). Every number gets the same work and the same answer; only residents get the SMS."""
    code = f"{secrets.randbelow(1_000_000):06d}"
    db.execute(delete(OtpCode).where(OtpCode.phone == phone))
    db.add(
        OtpCode(
            phone=phone,
            code_hash=_digest(phone, code),
            expires_at=datetime.now(UTC) + OTP_TTL,
            attempts=0,
            used=False,
        )
    )
    if _resident(db, phone) is not None:
        sender(phone, code)
    return code


def verify_otp(factory: sessionmaker[Session], *, phone: str, code: str, max_attempts: int) -> User:
    """The resident behind a right code. Every guess is counted and committed before the answer;
    after `max_attempts` guesses the code is burnt, even for the right one."""
    with transaction(factory) as db:
        resident = _redeem(db, phone, code, max_attempts)
    if resident is None:
        raise Unauthorized(WRONG_CODE, code="wrong_code")
    return resident


def _redeem(db: Session, phone: str, code: str, max_attempts: int) -> User | None:
    codes = select(OtpCode.id, OtpCode.code_hash).where(OtpCode.phone == phone)
    latest = db.execute(codes.order_by(OtpCode.id.desc()).limit(1)).first()
    if latest is None:
        return None
    # Take one attempt in a single UPDATE: it locks the row until commit, so parallel guesses
    # queue up and each one is counted.
    taken = db.execute(
        update(OtpCode)
        .where(
            OtpCode.id == latest.id,
            OtpCode.attempts < max_attempts,
            OtpCode.used.is_(False),
            OtpCode.expires_at > datetime.now(UTC),
        )
        .values(attempts=OtpCode.attempts + 1)
    )
    if rowcount(taken) != 1 or not hmac.compare_digest(latest.code_hash, _digest(phone, code)):
        return None
    db.execute(update(OtpCode).where(OtpCode.id == latest.id).values(used=True))
    return _resident(db, phone)


def _resident(db: Session, phone: str) -> User | None:
    return db.scalar(select(User).where(User.phone == phone, User.role == "resident"))


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
            raise Unauthorized("malformed token", code="token_invalid") from None
        if not hmac.compare_digest(signature, self._sign(f"{user_id}.{expiry}")):
            raise Unauthorized("invalid token", code="token_invalid")
        if int(expiry) < datetime.now(UTC).timestamp():
            raise Unauthorized("token expired: sign in again", code="token_expired")
        return int(user_id)

    def _sign(self, body: str) -> str:
        digest = hmac.new(self.secret, body.encode(), hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).decode().rstrip("=")


def account(db: Session, user_id: int) -> User:
    """The signed-in caller's account: a valid token of a deleted account is a 401."""
    user = db.get(User, user_id)
    if user is None:
        raise Unauthorized("this account no longer exists", code="account_gone")
    return user


def require_role(user: User, *roles: str) -> None:
    if user.role not in roles and user.role != "admin":
        raise Forbidden(f"this needs the role {' or '.join(roles)}", code="role_needed", roles=list(roles))


def in_store(user: User, store_id: int) -> bool:
    """Staff and ops work for one store; admins (and unscoped users) for all."""
    return user.role == "admin" or user.store_id in (None, store_id)


def require_store(user: User, store_id: int) -> None:
    if not in_store(user, store_id):
        raise Forbidden("this belongs to another store", code="other_store")
