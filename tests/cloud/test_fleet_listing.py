"""The ops fleet listing: pages, filters by state and store, counts over the scope, the compact map."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.app import create_app
from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import Cabinet
from cloud.domain import alarms
from cloud.domain.fleet import seed
from cloud.settings import CloudSettings

EXTRA, DEMO = 30, 6  # cabinets of a second store, beside the demo's


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    store = {"code": "SH-PD-01", "name_zh": "浦东店", "name_en": "Pudong", "lat": 31.22, "lon": 121.54}
    cabinets = [
        {"code": f"PD-{n:04d}", "store": "SH-PD-01", "layout": "ambient-lanes", "lat": 31.2, "lon": 121.5}
        for n in range(EXTRA)
    ]
    with transaction(factory) as db:
        seed(db, {"products": "catalog", "stores": [store], "cabinets": cabinets})
        for cabinet in db.scalars(select(Cabinet)):
            cabinet.online = cabinet.code.endswith(("0", "2", "4", "6", "8"))  # half online
            if cabinet.code in ("PD-0000", "PD-0002", "XH-0002"):
                alarms.raise_alarm(db, cabinet, "temperature_high", detail="warm")
            if cabinet.code == "PD-0004":
                alarms.raise_alarm(db, cabinet, "low_stock", "1", detail="low")
    context = CloudContext.build(CloudSettings(db=db_url, key_dir=tmp_path / "keys"), mqtt_url=None)
    context.factory = factory
    with TestClient(create_app(context)) as test_client:
        yield test_client
    context.close()


def signed_in(client: TestClient, name: str) -> dict[str, str]:
    answer = client.post("/api/v1/auth/login", json={"username": name, "password": f"{name}-demo"})
    return {"Authorization": f"Bearer {answer.json()['token']}"}


def fleet(client: TestClient, who: str = "admin", **query: Any) -> dict[str, Any]:
    answer = client.get("/api/v1/fleet", headers=signed_in(client, who), params=query)
    assert answer.status_code == 200, answer.text
    return dict(answer.json())


def test_pages_cover_the_fleet_once_in_code_order(client: TestClient) -> None:
    pages = [fleet(client, page=n, page_size=8) for n in (1, 2, 3, 4, 5)]
    codes = [c["code"] for p in pages for c in p["cabinets"]]
    assert codes == sorted(codes)
    assert len(codes) == len(set(codes)) == EXTRA + DEMO
    assert [len(p["cabinets"]) for p in pages] == [8, 8, 8, 8, 4]
    assert {p["total"] for p in pages} == {EXTRA + DEMO}
    counts = pages[0]["counts"]
    assert counts == {"cabinets": 36, "online": 18, "offline": 18, "alarms": 4, "low_stock": 1}


def test_filters_by_state_and_store(client: TestClient) -> None:
    alarmed = fleet(client, state="alarm")
    assert [c["code"] for c in alarmed["cabinets"]] == ["PD-0000", "PD-0002", "PD-0004", "XH-0002"]
    assert all(c["status"] == "alarm" for c in alarmed["cabinets"])
    assert fleet(client, state="low_stock")["cabinets"][0]["low_stock"] is True
    offline = fleet(client, state="offline", store="SH-XH-01")
    assert [c["code"] for c in offline["cabinets"]] == ["XH-0001", "XH-0003", "XH-0005"]
    assert offline["counts"]["cabinets"] == DEMO  # counts are the store's, whatever the state
    ok = fleet(client, state="ok", store="SH-PD-01", page_size=500)
    assert ok["total"] == EXTRA // 2 - 3
    assert all(c["online"] and not c["alarms"] for c in ok["cabinets"])
    assert fleet(client, store="NOWHERE")["total"] == 0


def test_ops_see_only_their_store(client: TestClient) -> None:
    mine = fleet(client, "ops", page_size=500)
    assert {c["store_code"] for c in mine["cabinets"]} == {"SH-XH-01"}
    assert mine["counts"]["cabinets"] == DEMO
    assert fleet(client, "ops", store="SH-PD-01")["total"] == 0


def test_the_map_has_every_cabinet_in_a_few_bytes(client: TestClient) -> None:
    answer = client.get("/api/v1/fleet/map", headers=signed_in(client, "admin"))
    points = answer.json()["points"]
    assert len(points) == EXTRA + DEMO
    assert ["PD-0000", 31.2, 121.5, "alarm"] in points
    assert ["PD-0001", 31.2, 121.5, "offline"] in points
    assert len(answer.content) < 40 * len(points)


@pytest.mark.parametrize("query", [{"page": 0}, {"page_size": 501}, {"state": "sleepy"}])
def test_out_of_bounds_queries_are_refused(client: TestClient, query: dict[str, Any]) -> None:
    answer = client.get("/api/v1/fleet", headers=signed_in(client, "admin"), params=query)
    assert answer.status_code == 422
