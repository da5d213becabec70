"""The cold-chain guard on both databases, driven through telemetry ingest and the HTTP API: a warm night
withholds the chilled lanes once their exposure passes the limit (offline-folded samples count for every
reading), a withheld piece taken is a free loss, a door with nothing else sellable stays shut, ops refund
the visits that bought exposed goods in one action, the pick list pulls the exposed pieces as waste and
the restock releases the lanes."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from unittest.mock import ANY

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CommandSigner
from cloud.db.engine import transaction
from cloud.db.models import Cabinet, Product, StockMovement, StoreMovement, User
from cloud.domain import ingest, ledger, telemetry
from protocols.mqtt.schemas import BasketCandidate, LaneDelta, SessionResult, Status, Telemetry
from tests.cloud.api_roles import add_other_store, api_client, role_headers
from tests.cloud.conftest import deliver_payments

CAB = "XH-0001"
SEQ = iter(range(1, 1000))  # the gateway's event numbers
CHILLED = {(0, 0), (0, 1), (2, 1), (3, 0), (3, 1)}  # milk, sandwich, onigiri, salad, yogurt
AMBIENT = {(1, 0), (1, 1), (2, 0)}  # coke, water, genki


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    add_other_store(factory)
    with api_client(factory, db_url, tmp_path) as test_client:
        yield test_client


def feed(factory: sessionmaker[Session], start: datetime, temps: list[float], samples: int = 1) -> datetime:
    """Samples every 10 s (the fleet's telemetry interval) through what the ingest worker calls."""
    with transaction(factory) as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        batch = [
            (
                cabinet,
                Telemetry(ts=start + timedelta(seconds=10 * i), temperatures_c=[t, t - 1], samples=samples),
            )
            for i, t in enumerate(temps)
        ]
        telemetry.record_many(db, batch)
    return start + timedelta(seconds=10 * len(temps))


def visit(
    client: TestClient, factory: sessionmaker[Session], who: dict[str, str], lanes: list[LaneDelta]
) -> str:
    """A resident opens the door over HTTP and the gateway reports what was taken."""
    opened = client.post(f"/api/v1/cabinets/{CAB}/sessions", json={"door": 0}, headers=who)
    assert opened.status_code == 201, opened.text
    sid = opened.json()["session_id"]
    now = datetime.now(UTC)
    result = SessionResult(
        event_id=uuid.uuid4(), seq=next(SEQ), cabinet_id=CAB, session_id=sid, command_id=uuid.uuid4(), door=0,
        mode="resident", outcome="completed", unlocked_at=now - timedelta(seconds=20), lanes=lanes,
    )  # fmt: skip
    with transaction(factory) as db:
        ingest.store_event(db, CAB, result)
    deliver_payments(factory)
    return str(sid)


def balance(factory: sessionmaker[Session], name: str) -> int:
    deliver_payments(factory)
    with factory() as db:
        return int(db.scalar(select(User.balance_fen).where(User.name == name)) or 0)


def withheld(client: TestClient) -> dict[tuple[int, int], dict[str, object] | None]:
    return {
        (x["channel"], x["lane"]): x["withheld"] for x in client.get(f"/api/v1/cabinets/{CAB}/stock").json()
    }


def test_a_warm_night_is_withheld_refunded_pulled_and_released(
    client: TestClient, factory: sessionmaker[Session], signer: CommandSigner
) -> None:
    who = role_headers(client, factory)
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
    night = datetime.now(UTC) - timedelta(hours=3)
    t = feed(factory, night, [4.0] * 6)  # cool
    t = feed(factory, t, [9.0, 11.0, 12.5] + [12.0] * 57)  # the compressor fails: 600 s above 8 °C
    assert not any(withheld(client).values())

    # Before the limit a resident buys two bottles of (already warm) milk: charged, listed for refund later.
    paid = balance(factory, "王芳")
    warm_buy = visit(
        client, factory, who["resident"], [LaneDelta(channel=0, lane=0, sku="bright-milk-200", delta=-2)]
    )
    assert balance(factory, "王芳") == paid - 900

    # The gateway was offline: one folded sample stands for 119 readings (1190 s); a repeat adds nothing.
    t = feed(factory, t, [11.0], samples=119)
    feed(factory, t - timedelta(seconds=10), [11.0])  # the same reading delivered twice
    assert not any(withheld(client).values())  # 600 + 1190 = 1790 s < 1800 s
    t = feed(factory, t, [11.0])
    lanes = withheld(client)
    assert {k for k, v in lanes.items() if v} == CHILLED
    assert lanes[0, 0] == {"code": "cold_chain", "limit_c": 8.0, "minutes": 30, "since": lanes[0, 0]["since"]}  # type: ignore[index]

    # A withheld piece taken anyway is not charged: the coke is, the milk is a loss.
    paid = balance(factory, "王芳")
    taken = [
        LaneDelta(channel=0, lane=0, sku="bright-milk-200", delta=-1),
        LaneDelta(channel=1, lane=0, sku="coke-330", delta=-1),
    ]
    free_milk = visit(client, factory, who["resident"], taken)
    assert balance(factory, "王芳") == paid - 350
    with factory() as db:
        kinds = dict(
            db.execute(
                select(StockMovement.sku, StockMovement.kind).where(StockMovement.session_id == free_milk)
            ).all()
        )
    assert kinds == {"bright-milk-200": "loss", "coke-330": "sale"}

    # Unsure weights: the offers she chooses from price the withheld milk at nothing, as it will be charged.
    opened = client.post(f"/api/v1/cabinets/{CAB}/sessions", json={"door": 0}, headers=who["resident"])
    unsure = opened.json()["session_id"]
    milk_or_coke = [
        BasketCandidate(lanes=[taken[0]], probability=0.5),
        BasketCandidate(lanes=[taken[1]], probability=0.45),
    ]
    result = SessionResult(
        event_id=uuid.uuid4(), seq=next(SEQ), cabinet_id=CAB, session_id=unsure, command_id=uuid.uuid4(),
        door=0,
        mode="resident", outcome="completed", unlocked_at=datetime.now(UTC), lanes=[taken[0]], ambiguous=True,
        candidates=milk_or_coke,
    )  # fmt: skip
    with transaction(factory) as db:
        ingest.store_event(db, CAB, result)
    view = client.get(f"/api/v1/sessions/{unsure}", headers=who["resident"]).json()
    assert [o["amount_fen"] for o in view["offers"]] == [0, 350]
    assert (
        client.post(
            f"/api/v1/sessions/{unsure}/choice", json={"offer": 0}, headers=who["resident"]
        ).status_code
        == 200
    )
    assert balance(factory, "王芳") == paid - 350

    # Ops: one incident with the lanes, the pieces, the curve and the visit that bought exposed milk.
    assert client.get("/api/v1/cold-chain/incidents", headers=who["resident"]).status_code == 403
    assert client.get("/api/v1/cold-chain/incidents", headers=who["staff"]).status_code == 403
    [incident] = client.get("/api/v1/cold-chain/incidents", headers=who["ops"]).json()
    assert {(x["channel"], x["lane"]) for x in incident["lanes"]} == CHILLED
    pieces = {(x["channel"], x["lane"]): x["pieces"] for x in incident["lanes"]}
    assert pieces[0, 0] == 10 - 2
    assert pieces[3, 0] == 4
    assert max(p["max_c"] for p in incident["curve"]) == 12.5
    assert min(p["max_c"] for p in incident["curve"]) == 4.0
    [affected] = incident["sessions"]
    assert (affected["session_id"], affected["resident"], affected["amount_fen"]) == (warm_buy, "王芳", 900)
    assert affected["items"][0]["sku"] == "bright-milk-200"
    assert affected["refunded_fen"] is None

    # One action refunds them all, once; the resident is told on the next visit, once.
    path = f"/api/v1/cold-chain/incidents/{incident['id']}/refund"
    assert client.post(path, headers=who["staff"]).status_code == 403
    done = client.post(path, headers=who["ops"])
    assert done.status_code == 200, done.text
    assert done.json()["sessions"][0]["refunded_fen"] == 900
    again = client.post(path, headers=who["ops"])
    assert (again.status_code, again.json()["code"]) == (409, "already_refunded")
    assert balance(factory, "王芳") == paid - 350 + 900
    [notice] = client.post("/api/v1/me/cold-chain-notices", headers=who["resident"]).json()
    assert (notice["session_id"], notice["amount_fen"]) == (warm_buy, 900)
    assert client.post("/api/v1/me/cold-chain-notices", headers=who["resident"]).json() == []
    # A dispute of the same visit cannot refund it a second time (the provider refunds a visit once).
    disputed = client.post(
        f"/api/v1/sessions/{warm_buy}/dispute", json={"reason": "warm"}, headers=who["resident"]
    )
    assert disputed.status_code == 201, disputed.text
    [dispute] = client.get("/api/v1/disputes", headers=who["ops"]).json()
    decide = {"refund_fen": 900, "note": "warm milk"}
    twice = client.post(f"/api/v1/disputes/{dispute['id']}/decision", json=decide, headers=who["ops"])
    assert (twice.status_code, twice.json()["code"]) == (409, "cold_chain_refunded")

    # With the ambient lanes sold out, nothing sellable is left behind the door: it stays shut.
    with transaction(factory) as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        for s in ledger.stock(db, cabinet.id):
            if (s.channel, s.lane) in AMBIENT and s.count:
                ledger.record(db, cabinet_id=cabinet.id, channel=s.channel, lane=s.lane, sku=s.sku,
                              delta=-s.count, kind="sale", note="sold out")  # fmt: skip
    shut = client.post(f"/api/v1/cabinets/{CAB}/sessions", json={"door": 0}, headers=who["other_resident"])
    assert (shut.status_code, shut.json()["code"]) == (409, "cold_chain_withheld")

    # The morning pick list pulls every exposed piece; the restock books them as waste and releases.
    store_id = client.get(f"/api/v1/cabinets/{CAB}").json()["store_id"]
    plan = client.get(f"/api/v1/stores/{store_id}/picklist", headers=who["staff"]).json()
    [cab] = [c for c in plan["cabinets"] if c["code"] == CAB]
    pulls = {(x["channel"], x["lane"]): (x["pull"], x["exposed"]) for x in cab["lanes"]}
    assert pulls[0, 0] == (6, True)
    assert pulls[3, 0] == (4, True)
    assert not pulls[1, 0][1]
    restock = client.post(
        f"/api/v1/cabinets/{CAB}/sessions", json={"door": 0, "mode": "restock"}, headers=who["staff"]
    )
    assert restock.status_code == 201, restock.text
    rid = restock.json()["session_id"]
    fresh = [LaneDelta(channel=0, lane=0, sku="bright-milk-200", delta=10 - 6)]  # 6 pulled, 10 loaded
    result = SessionResult(
        event_id=uuid.uuid4(), seq=next(SEQ), cabinet_id=CAB, session_id=rid, command_id=uuid.uuid4(), door=0,
        mode="restock", outcome="completed", unlocked_at=datetime.now(UTC), lanes=fresh,
    )  # fmt: skip
    with transaction(factory) as db:
        ingest.store_event(db, CAB, result)
    short = client.post(
        f"/api/v1/sessions/{rid}/restock/confirm",
        json={"lanes": [{"channel": 0, "lane": 0, "delta": 3, "pulled": 5}]},
        headers=who["staff"],
    )
    assert (short.status_code, short.json()["code"]) == (409, "pull_exposed")
    confirmed = client.post(f"/api/v1/sessions/{rid}/restock/confirm", json={}, headers=who["staff"])
    assert confirmed.status_code == 200, confirmed.text
    lanes = withheld(client)
    assert {k for k, v in lanes.items() if v} == CHILLED - {(0, 0)}  # only the milk was replaced
    with factory() as db:
        waste = db.scalars(
            select(StoreMovement).where(StoreMovement.session_id == rid, StoreMovement.kind == "write_off")
        ).all()
        assert [(w.sku, w.delta) for w in waste] == [("bright-milk-200", -6)]
        assert waste[0].note.startswith("cold chain: 30 min above 8 °C")
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == CAB))
        assert cabinet is not None
        assert {(s.channel, s.lane): s.count for s in ledger.stock(db, cabinet.id)}[0, 0] == 10
    [incident] = client.get("/api/v1/cold-chain/incidents", headers=who["ops"]).json()
    assert incident["closed_at"] is None  # four lanes still exposed


def test_a_cool_cabinet_and_ambient_goods_are_never_withheld(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
    t = feed(factory, datetime.now(UTC) - timedelta(hours=2), [7.9] * 400)  # 4000 s just under the limit
    feed(factory, t, [30.0], samples=100)  # then hot, but only 1000 s of the 1800 allowed
    assert not any(withheld(client).values())
    who = role_headers(client, factory)
    assert client.get("/api/v1/cold-chain/incidents", headers=who["ops"]).json() == []


def test_frozen_goods_have_their_own_limit_overridden_per_cabinet(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    """The salad kept frozen: −10 °C is too warm for it and fine for the chilled goods; the cabinet's own
    allowance (set by ops on the settings API) decides when it is withheld."""
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
        salad = db.scalar(select(Product).where(Product.sku == "chicken-salad"))
        assert salad is not None
        salad.storage = "frozen"
    who = role_headers(client, factory)
    put = client.put(f"/api/v1/cabinets/{CAB}/settings", json={"frozen_excursion_s": 300}, headers=who["ops"])
    assert put.status_code == 200, put.text
    t = feed(factory, datetime.now(UTC) - timedelta(hours=1), [-10.0] * 29)  # 290 s above −15 °C
    assert not any(withheld(client).values())
    feed(factory, t, [-10.0])
    assert {k for k, v in withheld(client).items() if v} == {(3, 0)}
    assert withheld(client)[3, 0] == {"code": "cold_chain", "limit_c": -15.0, "minutes": 5, "since": ANY}


def test_a_hot_spell_is_withheld_by_its_time_temperature_sum(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    """18 °C is 10 °C above the limit: 20 °C·min are spent in two minutes, long before 30 minutes."""
    with transaction(factory) as db:
        ingest.on_status(db, CAB, Status(state="online"))
    who = role_headers(client, factory)
    put = client.put("/api/v1/stores/1/settings", json={"chilled_excursion_c_min": 20}, headers=who["ops"])
    assert put.status_code == 200, put.text
    t = feed(factory, datetime.now(UTC) - timedelta(hours=1), [18.0] * 11)  # 1100 °C·s
    assert not any(withheld(client).values())
    feed(factory, t, [18.0])
    assert {k for k, v in withheld(client).items() if v} == CHILLED
    [incident] = client.get("/api/v1/cold-chain/incidents", headers=who["ops"]).json()
    assert {lane["degree_s"] for lane in incident["lanes"]} == {1200.0}
    assert {lane["exposed_s"] for lane in incident["lanes"]} == {120.0}
