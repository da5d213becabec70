"""Pick lists, routes and restock visits."""

from __future__ import annotations

import itertools
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud import Refused
from cloud.commands import CommandSigner
from cloud.db.engine import transaction
from cloud.db.models import Alarm, Cabinet, StockMovement, User
from cloud.db.models import Session as Visit
from cloud.domain import alarms, ledger, outbox, restock, restock_check, sessions, store_inventory
from cloud.domain.demand import Demand
from cloud.domain.picklist import LaneState, plan
from cloud.domain.route import length, plan_route
from protocols.mqtt.schemas import ChannelInference, LaneDelta, SessionResult

NOW = datetime(2026, 11, 24, 8, 0, tzinfo=UTC)


def lane(
    sku: str, count: int, capacity: int = 10, par: int = 8, demand: float = 0, expiring: int = 0
) -> LaneState:
    return LaneState("C1", 0, 0, sku, count, capacity, par, demand, demand, expiring)



def staff_at(db: Session, code: str) -> tuple[User, Cabinet]:
    """The demo's restocker and one of the cabinets of the store."""
    staff = db.scalar(select(User).where(User.name == "staff"))
    cabinet = db.scalar(select(Cabinet).where(Cabinet.code == code))
    assert staff is not None
    assert cabinet is not None
    return staff, cabinet

def test_fill_to_par_when_demand_is_low() -> None:
    (planned,) = plan([lane("cola", 3)], {"cola": 50}).cabinets["C1"]
    assert (planned.load, planned.short) == (5, 0)


def test_fast_lanes_get_what_lasts_until_the_next_visit_within_capacity() -> None:
    (planned,) = plan([lane("cola", 3, demand=7.0)], {"cola": 50}).cabinets["C1"]
    assert planned.load == 9 - 3  # 7 a day × 1.2 safety = 8.4 → 9, above par 8, within capacity
    (capped,) = plan([lane("cola", 3, capacity=6, par=4, demand=20.0)], {"cola": 50}).cabinets["C1"]
    assert capped.load == 3


def test_store_shortage_goes_to_the_lane_that_runs_out_first() -> None:
    slow = LaneState("C1", 0, 0, "cola", 4, 10, 8, 1.0, 1.0)
    fast = LaneState("C2", 0, 0, "cola", 4, 10, 8, 8.0, 8.0)
    picklist = plan([slow, fast], {"cola": 6})
    assert picklist.cabinets["C2"][0].load == 6
    assert (picklist.cabinets["C1"][0].load, picklist.cabinets["C1"][0].short) == (0, 4)
    assert picklist.picking == [{"sku": "cola", "count": 6, "short": 4}]


def test_expiring_pieces_are_pulled_and_replaced() -> None:
    (planned,) = plan([lane("sandwich", 6, par=6, expiring=2)], {"sandwich": 10}).cabinets["C1"]
    assert (planned.pull, planned.load) == (2, 2)


def test_demand_follows_the_hour_of_day() -> None:
    evening = tuple(1.0 if h == 18 else 0.0 for h in range(24))
    demand = Demand(per_day=10, hourly=evening)
    assert demand.until(NOW, NOW + timedelta(hours=8)) == 0  # 08:00-16:00 sells nothing
    assert demand.until(NOW, NOW + timedelta(hours=12)) == pytest.approx(10)


@settings(max_examples=30, deadline=None)
@given(st.integers(2, 8), st.randoms(use_true_random=False))
def test_route_is_near_the_optimum(n: int, rng: random.Random) -> None:
    start = (31.18, 121.43)
    stops = [(31.1 + rng.random() / 10, 121.4 + rng.random() / 10) for _ in range(n)]
    order, distance = plan_route(start, stops)
    assert sorted(order) == list(range(n))
    best = min(length(start, stops, p) for p in itertools.permutations(range(n)))
    assert distance <= best * 1.10  # nearest neighbour + 2-opt: within 10 % of brute force
    assert distance == pytest.approx(length(start, stops, order))


def sell(db: Session, cabinet: Cabinet, channel: int, lane_no: int, sku: str, n: int, at: datetime) -> None:
    m = ledger.record(
        db, cabinet_id=cabinet.id, channel=channel, lane=lane_no, sku=sku, delta=-n, kind="sale"
    )
    m.created_at = at


def test_round_from_the_ledger_asks_for_what_went_missing(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == "XH-0001"))
        assert cabinet is not None
        sell(db, cabinet, 1, 0, "coke-330", 3, NOW - timedelta(hours=5))
        sell(db, cabinet, 3, 1, "jianai-yogurt-135", 2, NOW - timedelta(hours=2))
    with factory() as db:
        plan_json = restock.restock_round(db, 1, now=NOW).as_json()
    loads = {
        (c["code"], lane["sku"]): lane["load"]
        for c in plan_json["cabinets"]
        for lane in c["lanes"]
        if lane["load"]
    }
    assert loads == {("XH-0001", "coke-330"): 3, ("XH-0001", "jianai-yogurt-135"): 2}
    assert plan_json["route"] == ["XH-0001"]
    assert {p["sku"]: p["count"] for p in plan_json["picking"]} == {"coke-330": 3, "jianai-yogurt-135": 2}


def test_chilled_items_past_their_shelf_life_are_pulled(factory: sessionmaker[Session]) -> None:
    later = datetime.now(UTC) + timedelta(days=3)  # sandwiches keep 2 days
    with factory() as db:
        plan_json = restock.restock_round(db, 1, now=later, interval=timedelta(hours=12)).as_json()
    xh1 = next(c for c in plan_json["cabinets"] if c["code"] == "XH-0001")
    sandwich = next(lane for lane in xh1["lanes"] if lane["sku"] == "ham-sandwich")
    assert (sandwich["pull"], sandwich["load"]) == (6, 6)
    coke = next(lane for lane in xh1["lanes"] if lane["sku"] == "coke-330")
    assert coke["pull"] == 0  # ambient goods are not pulled for age


def test_confirmed_restock_moves_stock_from_store_to_cabinet(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    sid = uuid.uuid4().hex[:12]
    with transaction(factory) as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == "XH-0001"))
        staff = db.scalar(select(User).where(User.name == "staff"))
        assert cabinet is not None
        assert staff is not None
        visit = Visit(id=sid, cabinet_id=cabinet.id, user_id=staff.id, mode="restock", status="pending")
        visit.command_id = str(uuid.uuid4())
        db.add(visit)
        db.flush()
        detected = [LaneDelta(channel=1, lane=0, sku="coke-330", delta=2)]
        result = SessionResult(
            event_id=uuid.uuid4(),
            seq=1,
            cabinet_id="XH-0001",
            session_id=sid,
            command_id=uuid.uuid4(),
            door=0,
            mode="restock",
            outcome="completed",
            unlocked_at=NOW,
            lanes=detected,
        )
        sessions.settle(db, cabinet, result)
        assert db.get(Visit, sid).status == "confirm"  # type: ignore[union-attr]
        before_store = store_inventory.on_hand(db, cabinet.store_id)["coke-330"]
        # The staff member counts 1 loaded (the scale said 2): the correction is what counts.
        corrected = [{"channel": 1, "lane": 0, "delta": 1}]
        restock.confirm_restock(db, session_id=sid, actor=staff, counts=corrected, signer=signer)
        assert store_inventory.on_hand(db, cabinet.store_id)["coke-330"] == before_store - 1
        stock = {s.sku: s.count for s in ledger.stock(db, cabinet.id)}
        assert stock["coke-330"] == 8 + 1
        note = db.scalar(select(StockMovement.note).where(StockMovement.session_id == sid))
        assert note == "detected 2, confirmed 1 (corrected)"
        with pytest.raises(Refused):
            restock.confirm_restock(db, session_id=sid, actor=staff, counts=None, signer=signer)


def restock_visit(db: Session, cabinet: Cabinet, staff: User) -> str:
    sid = uuid.uuid4().hex[:12]
    visit = Visit(id=sid, cabinet_id=cabinet.id, user_id=staff.id, mode="restock", status="confirm")
    visit.command_id = str(uuid.uuid4())
    visit.result = {"lanes": []}
    db.add(visit)
    db.flush()
    return sid


def test_a_lane_changes_product_during_a_restock(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    from cloud.domain import planogram_changes
    from cloud.domain.fleet import config_payload

    with transaction(factory) as db:
        staff, cabinet = staff_at(db, "XH-0001")
        with pytest.raises(Refused, match="cannot be told from"):  # salad and Want Want weigh alike
            planogram_changes.request_change(
                db,
                cabinet_code="XH-0001",
                channel=3,
                lane=1,
                sku="wangzai-245",
                capacity=None,
                par_level=None,
                actor=staff,
            )
        planogram_changes.request_change(
            db,
            cabinet_code="XH-0001",
            channel=1,
            lane=1,
            sku="genki-480",
            capacity=8,
            par_level=5,
            actor=staff,
        )
    with factory() as db:
        plan = restock.restock_round(db, 1).as_json()
    lane = next(
        ln
        for c in plan["cabinets"]
        if c["code"] == "XH-0001"
        for ln in c["lanes"]
        if ln["channel"] == 1 and ln["lane"] == 1
    )
    assert (lane["sku"], lane["load"], lane["pull"], lane["pull_sku"]) == ("genki-480", 5, 6, "nongfu-550")
    with transaction(factory) as db:
        staff, cabinet = staff_at(db, "XH-0001")
        before = store_inventory.on_hand(db, cabinet.store_id)
        sid = restock_visit(db, cabinet, staff)
        with pytest.raises(Refused, match="pull all 6 old pieces"):
            restock.confirm_restock(
                db,
                session_id=sid,
                actor=staff,
                counts=[{"channel": 1, "lane": 1, "delta": 5, "pulled": 4}],
                signer=signer,
            )
    with transaction(factory) as db:
        staff, cabinet = staff_at(db, "XH-0001")
        sid = restock_visit(db, cabinet, staff)
        restock.confirm_restock(
            db,
            session_id=sid,
            actor=staff,
            counts=[{"channel": 1, "lane": 1, "delta": 5, "pulled": 6}],
            signer=signer,
        )
        [queued] = outbox.pending(db, "config")  # the new planogram goes out with this commit
        assert queued.payload["version"] == 2
        lane_stock = {(s.channel, s.lane): (s.sku, s.count) for s in ledger.stock(db, cabinet.id)}
        assert lane_stock[(1, 1)] == ("genki-480", 5)
        after = store_inventory.on_hand(db, cabinet.store_id)
        assert after["nongfu-550"] == before["nongfu-550"] + 6
        assert after["genki-480"] == before["genki-480"] - 5
        config = config_payload(db, cabinet)
        assert config.version == 2
        assert config.planogram.channels[1].lanes[1].sku == "genki-480"
        assert ledger.reconcile(db, cabinet.id) == []


# -- a restock visit checked against its plan ------------------------------------------------------

MILK_AND_YOGURT = [
    {"channel": 0, "lane": 0, "sku": "bright-milk-200", "load": 5, "pull": 0, "pull_sku": None},
    {"channel": 0, "lane": 1, "sku": "jianai-yogurt-135", "load": 7, "pull": 0, "pull_sku": None},
]


def loaded(delta_g: float, detected: list[LaneDelta], outcome: str = "ok") -> SessionResult:
    return SessionResult(
        event_id=uuid.uuid4(),
        seq=1,
        cabinet_id="XH-0001",
        session_id="s1",
        command_id=uuid.uuid4(),
        door=0,
        mode="restock",
        outcome="completed",
        unlocked_at=NOW,
        channels=[ChannelInference(channel=0, delta_g=delta_g, outcome=outcome, confidence=0.5)],  # type: ignore[arg-type]
        lanes=detected,
    )


def check(factory: sessionmaker[Session], result: SessionResult) -> dict[str, tuple[int, int | None, str]]:
    with factory() as db:
        rows = restock_check.verdicts(db, MILK_AND_YOGURT, result)
    return {r["sku"]: (r["planned"], r["detected"], r["verdict"]) for r in rows}


def test_look_alike_loads_are_checked_against_the_plan(factory: sessionmaker[Session]) -> None:
    # 5 × 209 g + 7 × 149 g = 2,088 g; the gateway alone read it as 10 milk (2,090 g).
    ten_milk = [LaneDelta(channel=0, lane=0, sku="bright-milk-200", delta=10)]
    assert check(factory, loaded(2088.5, ten_milk)) == {
        "bright-milk-200": (5, 10, "match"),
        "jianai-yogurt-135": (7, None, "match"),
    }
    six_milk = [LaneDelta(channel=0, lane=0, sku="bright-milk-200", delta=6)]
    assert {v[2] for v in check(factory, loaded(6 * 209.0, six_milk)).values()} == {"mismatch"}
    assert {v[2] for v in check(factory, loaded(2088.0, [], outcome="fault")).values()} == {"cannot_tell"}


def test_counts_outside_the_lane_are_refused_unless_a_reason_is_given(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    with transaction(factory) as db:
        staff, cabinet = staff_at(db, "XH-0001")
        sid = restock_visit(db, cabinet, staff)
        over = [{"channel": 0, "lane": 0, "delta": 5}]  # 10 milk in a lane of 12
        with pytest.raises(Refused, match="would hold 15 of 12") as refused:
            restock.confirm_restock(db, session_id=sid, actor=staff, counts=over, signer=signer)
        assert refused.value.code == "outside_capacity"
        under = [{"channel": 0, "lane": 1, "delta": -7}]  # 6 sandwiches
        with pytest.raises(Refused, match="would hold -1 of 8"):
            restock.confirm_restock(db, session_id=sid, actor=staff, counts=under, signer=signer)
        restock.confirm_restock(
            db, session_id=sid, actor=staff, counts=over, signer=signer, reason="the lane was refitted longer"
        )
        note = db.scalar(select(StockMovement.note).where(StockMovement.session_id == sid))
        assert note is not None
        assert "the lane was refitted longer" in note


def test_a_restock_that_fills_a_low_lane_closes_its_alarm(
    factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    with transaction(factory) as db:
        staff, cabinet = staff_at(db, "XH-0001")
        ledger.record(db, cabinet_id=cabinet.id, channel=1, lane=0, sku="coke-330", delta=-7, kind="sale")
        alarms.check_stock(db, cabinet)
        low = select(Alarm).where(Alarm.kind == "low_stock", Alarm.state != "resolved")
        assert db.scalars(low).all()
        sid = restock_visit(db, cabinet, staff)
        restock.confirm_restock(
            db, session_id=sid, actor=staff, counts=[{"channel": 1, "lane": 0, "delta": 8}], signer=signer
        )
        assert not db.scalars(low).all()
