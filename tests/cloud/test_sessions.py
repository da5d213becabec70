"""Sessions and the ledger on both databases: charged exactly once, stock follows every sale."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud import Forbidden, Refused
from cloud.commands import CommandSigner
from cloud.db.engine import transaction
from cloud.db.models import Cabinet, Payment, StockMovement, User
from cloud.db.models import Session as Visit
from cloud.domain import ingest, ledger, outbox, sessions
from cloud.domain.payments import PrepaidBalance
from cloud.domain.sessions import Decision
from protocols.mqtt.schemas import Ack, BasketCandidate, DoorEvent, LaneDelta, SessionResult, Status
from tests.cloud.conftest import deliver_payments

PAY = PrepaidBalance()
CAB = "XH-0001"


def user(db: Session, name: str) -> User:
    found = db.scalar(select(User).where(User.name == name))
    assert found is not None
    return found


def online(factory: sessionmaker[Session], code: str = CAB) -> None:
    with transaction(factory) as db:
        ingest.on_status(db, code, Status(state="online"))


def open_visit(factory: sessionmaker[Session], signer: CommandSigner, name: str = "王芳") -> str:
    with transaction(factory) as db:
        visit = sessions.open_session(
            db,
            user=user(db, name),
            cabinet_code=CAB,
            door=0,
            mode="resident",
            signer=signer,
            provider=PAY,
            hold_fen=5000,
        )
        unlock = outbox.pending(db, "command")[-1].payload  # sent once this transaction commits
        assert (unlock["cabinet_id"], unlock["body"]["session_id"]) == (CAB, visit.id)  # type: ignore[index]
        return visit.id


def result(session_id: str, seq: int, lanes: list[LaneDelta], **extra: Any) -> SessionResult:
    now = datetime.now(UTC)
    return SessionResult(
        event_id=uuid.uuid4(),
        seq=seq,
        cabinet_id=CAB,
        session_id=session_id,
        command_id=uuid.uuid4(),
        door=0,
        mode="resident",
        unlocked_at=now - timedelta(seconds=30),
        lanes=lanes,
        **{"outcome": "completed", **extra},
    )


COKES = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=-2)]


def store(factory: sessionmaker[Session], event: Any) -> int:
    with transaction(factory) as db:
        return ingest.store_event(db, CAB, event)


def balance(factory: sessionmaker[Session], name: str = "王芳") -> tuple[int, int]:
    deliver_payments(factory)
    with factory() as db:
        u = user(db, name)
        return u.balance_fen, u.held_fen


def stock_of(factory: sessionmaker[Session], sku: str) -> int:
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        return next(s.count for s in ledger.stock(db, cabinet.id) if s.sku == sku)


def test_a_sale_is_charged_once_even_when_the_event_comes_twice(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    assert balance(factory) == (20000, 5000)
    event = result(sid, 1, COKES)
    assert store(factory, event) == 1
    assert store(factory, event) == 1  # duplicate: nothing changes
    assert balance(factory) == (20000 - 700, 0)
    assert stock_of(factory, "coke-330") == 8 - 2
    with factory() as db:
        visit = sessions.get_session(db, sid)
        assert (visit.status, visit.amount_fen) == ("settled", 700)
        assert visit.items[0]["count"] == 2
        captures = db.scalar(select(func.count()).select_from(Payment).where(Payment.kind == "capture"))
        assert captures == 1


def test_a_second_event_for_the_same_session_does_not_charge_again(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    store(factory, result(sid, 1, COKES))
    store(factory, result(sid, 2, COKES))  # the gateway re-reported after a crash: new event_id
    assert balance(factory) == (20000 - 700, 0)
    assert stock_of(factory, "coke-330") == 6


def test_events_out_of_order_are_acknowledged_contiguously(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    opened = DoorEvent(event_id=uuid.uuid4(), seq=1, cabinet_id=CAB, door=0, action="opened", session_id=sid)
    closed = DoorEvent(event_id=uuid.uuid4(), seq=2, cabinet_id=CAB, door=0, action="closed", session_id=sid)
    assert store(factory, result(sid, 3, COKES)) == 0  # 1 and 2 are missing
    assert store(factory, closed) == 0
    assert store(factory, opened) == 3
    with factory() as db:
        assert sessions.get_session(db, sid).status == "settled"  # late door events change nothing


def test_a_batch_fills_a_gap_and_skips_what_is_stored(factory: sessionmaker[Session]) -> None:
    """#13: one batch: a gap filled, a resend, a reused seq; duplicates and the evack from one query."""

    def door(seq: int, event_id: uuid.UUID | None = None) -> DoorEvent:
        return DoorEvent(event_id=event_id or uuid.uuid4(), seq=seq, cabinet_id=CAB, door=0, action="opened")

    first, third = door(1), door(3)
    with transaction(factory) as db:
        assert ingest.store_events(db, [(CAB, first), (CAB, third)]) == ({CAB: 1}, [first, third])
    second, fourth = door(2), door(4)
    batch = [
        (CAB, first),
        (CAB, second),
        (CAB, door(3, third.event_id)),
        (CAB, door(1)),
        (CAB, fourth),
        (CAB, door(4)),
    ]
    with transaction(factory) as db:
        assert ingest.store_events(db, batch) == ({CAB: 4}, [second, fourth])
    with transaction(factory) as db:  # all of it again, as a gateway resends what was not evacked
        assert ingest.store_events(db, batch) == ({CAB: 4}, [])


def test_unknown_session_moves_stock_but_charges_nobody(factory: sessionmaker[Session]) -> None:
    store(factory, result("not-ours", 1, COKES))
    assert stock_of(factory, "coke-330") == 6
    assert balance(factory) == (20000, 0)


ONE_COKE = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=-1)]


def ambiguous(sid: str, seq: int, *candidates: tuple[list[LaneDelta], float]) -> SessionResult:
    baskets = [BasketCandidate(lanes=lanes, probability=p) for lanes, p in candidates]
    return result(sid, seq, [], ambiguous=True, confidence=0.6, candidates=baskets)


def choose(factory: sessionmaker[Session], sid: str, offer: int | None, name: str = "王芳") -> Visit:
    with transaction(factory) as db:
        return sessions.choose(db, session_id=sid, user=user(db, name), offer=offer)


def test_ambiguous_lets_the_resident_choose_and_charges_the_choice_once(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    store(factory, ambiguous(sid, 1, (ONE_COKE, 0.3), (COKES, 0.6)))
    assert balance(factory) == (20000, 5000)  # nothing charged until the resident says
    with factory() as db:
        visit = sessions.get_session(db, sid)
        assert visit.status == "choose"
        offers = visit.result["offers"]  # type: ignore[index]
        assert [o["amount_fen"] for o in offers] == [700, 350]  # the most likely first, priced
        assert [o["items"][0]["count"] for o in offers] == [2, 1]
    with pytest.raises(Forbidden):
        choose(factory, sid, 0, name="张敏")  # not hers
    assert choose(factory, sid, 1).status == "settled"
    with pytest.raises(Refused, match="nothing to choose"):
        choose(factory, sid, 0)
    assert balance(factory) == (20000 - 350, 0)
    assert stock_of(factory, "coke-330") == 8 - 1


def test_a_basket_with_something_put_in_is_never_offered(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    put_in = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=1)]
    store(factory, ambiguous(sid, 1, (put_in, 0.7), (COKES, 0.3)))
    with factory() as db:
        offers = sessions.get_session(db, sid).result["offers"]  # type: ignore[index]
        assert [o["index"] for o in offers] == [1]


def test_none_of_these_goes_to_ops_who_charge_once(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    store(factory, ambiguous(sid, 1, (COKES, 0.6), ([], 0.4)))
    assert choose(factory, sid, None).status == "review"
    assert balance(factory) == (20000, 5000)  # still held: ops decide
    with transaction(factory) as db:
        ops = user(db, "ops")
        sessions.resolve_review(db, session_id=sid, decision=Decision(lanes=COKES), actor=ops)
    with transaction(factory) as db, pytest.raises(Refused, match="not in review"):
        sessions.resolve_review(db, session_id=sid, decision=Decision(lanes=COKES), actor=user(db, "ops"))
    assert balance(factory) == (20000 - 700, 0)


def test_ambiguous_with_nothing_chargeable_goes_to_ops(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    put_in = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=2)]
    unknown_lane = [LaneDelta(channel=9, lane=0, sku="coke-330", delta=-1)]
    store(factory, ambiguous(sid, 1, (put_in, 0.5), (unknown_lane, 0.5)))
    with factory() as db:
        assert sessions.get_session(db, sid).status == "review"
    assert balance(factory) == (20000, 5000)


def test_a_resident_who_does_not_choose_leaves_it_to_ops(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    store(factory, ambiguous(sid, 1, (COKES, 0.6), (ONE_COKE, 0.4)))
    with transaction(factory) as db:
        assert sessions.hand_unchosen_to_ops(db, timedelta(minutes=30)) == 0
        assert sessions.hand_unchosen_to_ops(db, -timedelta(seconds=1)) == 1
    with factory() as db:
        assert sessions.get_session(db, sid).status == "review"
    assert balance(factory) == (20000, 5000)


def test_refusals_say_why(factory: sessionmaker[Session], signer: CommandSigner) -> None:
    with pytest.raises(Refused, match="offline"):
        open_visit(factory, signer)
    online(factory)
    with pytest.raises(Refused, match="balance too low"):
        open_visit(factory, signer, name="李伟")
    open_visit(factory, signer)
    with pytest.raises(Refused, match="someone else"):
        open_visit(factory, signer, name="张敏")


def test_not_opened_and_rejected_release_the_hold(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    store(factory, result(sid, 1, [], outcome="not_opened"))
    assert balance(factory) == (20000, 0)
    sid = open_visit(factory, signer)
    with factory() as db:
        command_id = uuid.UUID(sessions.get_session(db, sid).command_id)
    with transaction(factory) as db:
        ingest.on_ack(db, CAB, Ack(command_id=command_id, status="rejected", reason="hardware_fault"))
    with factory() as db:
        visit = db.get(Visit, sid)
        assert visit is not None
        assert visit.status == "failed"
        assert "hardware_fault" in visit.detail
    assert balance(factory) == (20000, 0)


def test_ledger_reconciles_with_its_materialised_stock(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    store(factory, result(open_visit(factory, signer), 1, COKES))
    with factory() as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        assert ledger.reconcile(db, cabinet.id) == []
        assert (
            db.scalar(select(func.count()).select_from(StockMovement).where(StockMovement.kind == "sale"))
            == 1
        )


def test_a_basket_taking_more_than_a_lane_holds_is_never_offered(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    nine_cokes = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=-9)]  # the lane holds 8
    store(factory, ambiguous(sid, 1, (nine_cokes, 0.7), (COKES, 0.3)))
    with factory() as db:
        offers = sessions.get_session(db, sid).result["offers"]  # type: ignore[index]
        assert [o["index"] for o in offers] == [1]


def test_ops_charge_only_an_offered_candidate(factory: sessionmaker[Session], signer: CommandSigner) -> None:
    online(factory)
    sid = open_visit(factory, signer)
    put_in = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=1)]
    store(factory, ambiguous(sid, 1, (put_in, 0.5), (COKES, 0.3), (ONE_COKE, 0.2)))
    assert choose(factory, sid, None).status == "review"  # the resident: none of these
    with transaction(factory) as db, pytest.raises(Refused, match="not one that may be charged"):
        sessions.resolve_review(db, session_id=sid, decision=Decision(candidate=0), actor=user(db, "ops"))
    with transaction(factory) as db:
        visit = sessions.resolve_review(
            db, session_id=sid, decision=Decision(candidate=2), actor=user(db, "ops")
        )
        assert (visit.status, visit.amount_fen) == ("settled", 350)
    assert balance(factory) == (20000 - 350, 0)
