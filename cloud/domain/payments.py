"""Payments behind one small interface keyed by the session id; the embedded provider is a prepaid balance.

Only `hold` runs inside the visit's transaction (opening is refused when the funds are not there).
Capture, release and refund are written to the outbox with the state change that calls for them and
carried out by the dispatcher in a transaction of their own, outside any cabinet or session lock; each is
idempotent per session, so a retry after a crash or a provider's duplicate notification changes nothing.
A provider with asynchronous notifications (WeChat Pay / Alipay style) is one more module with these
four methods: the session id is its idempotency key.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Literal, Protocol

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.util import identity_key

from cloud import Refused
from cloud.db.bulk import table_of
from cloud.db.engine import rowcount
from cloud.db.models import Payment, User
from cloud.domain import outbox

Operation = Literal["capture", "release", "refund"]


@dataclass(frozen=True)
class PaymentOrder:
    """What to do for one visit: plain values, no ORM objects (a provider may run anywhere)."""

    session_id: str
    user_id: int
    amount_fen: int = 0  # capture and refund; a release frees whatever the hold was
    reason: str = ""


class PaymentProvider(Protocol):
    def hold(self, db: Session, order: PaymentOrder) -> None:
        """Reserve the funds or raise Refused; in the opening transaction."""

    def capture(self, db: Session, order: PaymentOrder) -> None:
        """Charge `amount_fen` and free the hold; a second capture of the session does nothing."""

    def release(self, db: Session, order: PaymentOrder) -> None:
        """Free the hold without charging; idempotent."""

    def refund(self, db: Session, order: PaymentOrder) -> None:
        """Give back `amount_fen` of a captured session; one refund per session."""


def request(db: Session, operation: Operation, order: PaymentOrder) -> None:
    """Queue a capture, release or refund in the caller's transaction (see cloud/dispatcher.py)."""
    key = f"payment:{operation}:{order.session_id}"
    outbox.enqueue(db, "payment", key, {"op": operation, **asdict(order)})


def outstanding(db: Session, session_id: str) -> bool:
    """Whether a capture, release or refund of this visit is still queued."""
    keys = [f"payment:{operation}:{session_id}" for operation in ("capture", "release", "refund")]
    return outbox.undone(db, keys)


def carry_out(provider: PaymentProvider, db: Session, payload: dict[str, object]) -> None:
    """The dispatcher's side of `request`."""
    fields = {k: v for k, v in payload.items() if k != "op"}
    order = PaymentOrder(**fields)  # type: ignore[arg-type]
    getattr(provider, str(payload["op"]))(db, order)


class PrepaidBalance:
    """Residents top up at the store; a visit holds, then captures or releases exactly once."""

    def hold(self, db: Session, order: PaymentOrder) -> None:
        # One conditional UPDATE: no read of the balance before it (a resident waits on this), and
        # concurrent holds of one resident still cannot overdraw (the row is re-checked under its lock).
        amount = order.amount_fen
        if rowcount(db.execute(_HOLD, {"user_id": order.user_id, "amount": amount})) != 1:
            user = _user(db, order.user_id)
            available = user.balance_fen - user.held_fen
            raise Refused(
                f"balance too low: {available / 100:.2f} yuan available, "
                f"{amount / 100:.2f} yuan needed to open",
                code="balance_low",
                available_fen=available,
                needed_fen=amount,
            )
        _forget_held(db, order.user_id)
        db.execute(
            _BOOK,
            {"user_id": order.user_id, "session_id": order.session_id, "kind": "hold", "amount_fen": amount},
        )

    def capture(self, db: Session, order: PaymentOrder) -> None:
        if _booked(db, order.session_id, "capture"):
            return
        user = _user(db, order.user_id)
        self._free_hold(db, user, order.session_id)
        user.balance_fen -= order.amount_fen
        _book(db, user, order.session_id, "capture", order.amount_fen)

    def release(self, db: Session, order: PaymentOrder) -> None:
        self._free_hold(db, _user(db, order.user_id), order.session_id)

    def refund(self, db: Session, order: PaymentOrder) -> None:
        captured = _booked(db, order.session_id, "capture")
        if captured is None:
            raise RuntimeError(f"session {order.session_id} has no capture to refund yet")  # retried
        if _booked(db, order.session_id, "refund") or order.amount_fen > captured.amount_fen:
            return
        user = _user(db, order.user_id)
        user.balance_fen += order.amount_fen
        _book(db, user, order.session_id, "refund", order.amount_fen)

    def _free_hold(self, db: Session, user: User, session_id: str) -> None:
        hold = _booked(db, session_id, "hold")
        if hold is None or _booked(db, session_id, "release"):
            return
        user.held_fen -= hold.amount_fen
        _book(db, user, session_id, "release", hold.amount_fen)


# Built once, run on the tables (Core): a resident waits on the hold, and building an ORM statement
# and running it through the ORM cost three times the round trip (#13).
_users, _payments = table_of(User), table_of(Payment)
_HOLD = (
    update(_users)
    .where(_users.c.id == bindparam("user_id"))
    .where(_users.c.balance_fen - _users.c.held_fen >= bindparam("amount"))
    .values(held_fen=_users.c.held_fen + bindparam("amount"))
)
_BOOK = insert(_payments)


def _forget_held(db: Session, user_id: int) -> None:
    """A loaded account (the caller's) must not keep the figure _HOLD changed under it."""
    user = db.identity_map.get(identity_key(User, user_id))
    if user is not None:
        db.expire(user, ["held_fen"])


def _user(db: Session, user_id: int) -> User:
    user = db.scalar(select(User).where(User.id == user_id).with_for_update())
    if user is None:
        raise RuntimeError(f"no user {user_id}")
    return user


def _booked(db: Session, session_id: str, kind: str) -> Payment | None:
    return db.scalar(select(Payment).where(Payment.session_id == session_id, Payment.kind == kind))


def _book(db: Session, user: User, session_id: str, kind: str, amount_fen: int) -> None:
    db.add(Payment(user_id=user.id, session_id=session_id, kind=kind, amount_fen=amount_fen))
    db.flush()  # the unique (session, kind) decides now if two deliveries raced
