"""Per-cabinet settings from the outside: set over the API, judged by the ingest worker on telemetry that
arrives over MQTT, carried in the config (SQLite and PostgreSQL)."""

from __future__ import annotations

import threading
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
from fastapi.testclient import TestClient
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry, Store, User
from cloud.domain import cabinet_settings, telemetry
from cloud.domain.auth import hash_password
from cloud.domain.fleet import cabinet_by_code, config_payload
from cloud.ingest.worker import IngestWorker
from firmware_sim.demo.servers import MosquittoServer
from protocols.mqtt.schemas import CabinetSettings, Telemetry, encode
from protocols.mqtt.topics import Channel, topic
from tests.cloud.api_roles import api_client, role_headers
from tests.harness import wait_until

CHILLED = ("XH-0001", "XH-0003", "XH-0005")  # the same layout, the same store


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Any:
    with api_client(factory, db_url, tmp_path) as test_client:
        yield test_client


@pytest.fixture
def ops(client: TestClient, factory: sessionmaker[Session]) -> dict[str, str]:
    return role_headers(client, factory)["ops"]


def versions(factory: sessionmaker[Session]) -> dict[str, int]:
    with factory() as db:
        return {c.code: c.config_version for c in db.scalars(select(Cabinet))}


def open_alarms(factory: sessionmaker[Session]) -> set[tuple[str, str]]:
    with factory() as db:
        rows = db.scalars(select(Alarm).where(Alarm.state != "resolved"))
        return {(a.cabinet.code, a.kind) for a in rows}


def send_telemetry(broker: MosquittoServer, samples: list[tuple[str, Telemetry]]) -> None:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", broker.port)
    client.loop_start()
    try:
        for code, sample in samples:
            client.publish(topic(code, Channel.TELEMETRY), encode(sample), qos=1).wait_for_publish(5)
    finally:
        client.loop_stop()
        client.disconnect()


def test_a_cabinet_threshold_set_over_the_api_changes_that_cabinets_alarms_and_nothing_else(
    client: TestClient, ops: dict[str, str], factory: sessionmaker[Session], mosquitto: MosquittoServer
) -> None:
    before = versions(factory)
    # XH-0001 tolerates a long backlog; XH-0003 alarms on warmth after a minute, not ten.
    one = client.put("/api/v1/cabinets/XH-0001/settings", json={"outbox_backlog": 1000}, headers=ops)
    three = client.put("/api/v1/cabinets/XH-0003/settings", json={"warm_grace_s": 60}, headers=ops)
    assert (one.status_code, three.status_code) == (200, 200), one.text + three.text
    assert one.json()["effective"]["outbox_backlog"] == 1000
    assert one.json()["effective"]["warm_grace_s"] == CabinetSettings().warm_grace_s
    after = versions(factory)
    assert {c for c in after if after[c] != before[c]} == {"XH-0001", "XH-0003"}

    # Warm (12 °C) for two minutes with 500 events waiting, on all three chilled cabinets alike.
    t0 = datetime.now(UTC) - timedelta(minutes=3)
    samples = [
        (code, Telemetry(ts=t0 + timedelta(minutes=m), temperatures_c=[12.0], outbox_depth=500))
        for m in (0, 2)
        for code in CHILLED
    ]
    worker = IngestWorker(
        mqtt_url=mosquitto.url,
        factory=factory,
        share_group=None,
        command_ttl=timedelta(minutes=2),
        name="settings-test",
    ).start()
    try:
        wait_until(worker.connected, 10, "the worker subscribed")
        send_telemetry(mosquitto, samples)
        wait_until(lambda: worker.telemetry >= len(samples), 20, "the telemetry ingested")
    finally:
        worker.stop()

    chilled = {(code, kind) for code, kind in open_alarms(factory) if code in CHILLED}
    assert chilled == {
        # XH-0001: backlog under its own limit, warm for less than the fleet's ten minutes
        ("XH-0003", "outbox_backlog"),  # the fleet's limit of 100
        ("XH-0003", "temperature_high"),  # its own grace of a minute
        ("XH-0005", "outbox_backlog"),  # the fleet's rules throughout
    }
    with factory() as db:
        assert db.scalar(select(CabinetTelemetry).join(Cabinet).where(Cabinet.code == "XH-0001")) is not None


def test_cabinet_beats_store_beats_fleet_and_the_config_carries_it(
    client: TestClient, ops: dict[str, str], factory: sessionmaker[Session]
) -> None:
    with factory() as db:
        store_id = db.scalar(select(Store.id).where(Store.code == "SH-XH-01"))
    answer = client.put(
        f"/api/v1/stores/{store_id}/settings", json={"hold_fen": 3000, "chilled_max_c": 6}, headers=ops
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["overrides"] == {"hold_fen": 3000, "chilled_max_c": 6}
    before = versions(factory)
    assert (
        client.put("/api/v1/cabinets/XH-0001/settings", json={"hold_fen": 1000}, headers=ops).status_code
        == 200
    )

    listing = client.get("/api/v1/settings", headers=ops).json()
    assert listing["defaults"] == CabinetSettings().model_dump()
    effective = {c["code"]: c["effective"] for c in listing["cabinets"]}
    assert (effective["XH-0001"]["hold_fen"], effective["XH-0001"]["chilled_max_c"]) == (1000, 6)
    assert (effective["XH-0002"]["hold_fen"], effective["XH-0002"]["chilled_max_c"]) == (3000, 6)
    with factory() as db:
        config = config_payload(db, cabinet_by_code(db, "XH-0001"))
        assert (config.settings.hold_fen, config.version) == (1000, before["XH-0001"] + 1)

    # The same overrides again change nothing a cabinet gets: no new version.
    same = versions(factory)
    client.put(
        f"/api/v1/stores/{store_id}/settings", json={"hold_fen": 3000, "chilled_max_c": 6}, headers=ops
    )
    assert versions(factory) == same
    # Emptied, the store's cabinets fall back to the fleet (XH-0001 keeps its own hold).
    client.put(f"/api/v1/stores/{store_id}/settings", json={}, headers=ops)
    effective = {
        c["code"]: c["effective"] for c in client.get("/api/v1/settings", headers=ops).json()["cabinets"]
    }
    assert (effective["XH-0001"]["hold_fen"], effective["XH-0002"]["chilled_max_c"]) == (1000, 8.0)


@pytest.mark.parametrize(
    ("body", "status"),
    [
        ({"hold_fen": -1}, 422),
        ({"silence_s": 1}, 422),
        ({"min_confidence": 1.5}, 422),
        ({"no_such_setting": 1}, 422),
        ({"chilled_max_c": 6, "max_take": 0}, 422),
        ({"silence_s": 40, "telemetry_interval_s": 45}, 409),  # offline between two samples
    ],
)
def test_invalid_overrides_are_refused_and_change_nothing(
    client: TestClient, ops: dict[str, str], factory: sessionmaker[Session], body: dict[str, Any], status: int
) -> None:
    before = versions(factory)
    answer = client.put("/api/v1/cabinets/XH-0001/settings", json=body, headers=ops)
    assert answer.status_code == status, answer.text
    assert versions(factory) == before


def test_the_domain_refuses_unknown_and_invalid_values_by_code(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as db:
        admin = db.scalar(select(User).where(User.name == "admin"))
        assert admin is not None
        cabinet = cabinet_by_code(db, "XH-0001")
        with pytest.raises(Exception, match="unknown settings") as unknown:
            cabinet_settings.set_overrides(db, admin, {"colour": "red"}, cabinet=cabinet)
        assert unknown.value.code == "unknown_setting"  # type: ignore[attr-defined]
        with pytest.raises(Exception, match="hold_fen") as invalid:
            cabinet_settings.set_overrides(db, admin, {"hold_fen": -5}, cabinet=cabinet)
        assert invalid.value.code == "invalid_setting"  # type: ignore[attr-defined]


def test_ops_of_another_store_may_not_change_this_ones(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    with transaction(factory) as db:
        store = Store(code="SH-PD-09", name_zh="浦东", name_en="Pudong", lat=31.2, lon=121.5)
        db.add(store)
        db.flush()
        db.add(User(name="ops-pd", role="ops", store_id=store.id, password_hash=hash_password("pd-ops")))
    token = client.post("/api/v1/auth/login", json={"username": "ops-pd", "password": "pd-ops"}).json()[
        "token"
    ]
    headers = {"Authorization": f"Bearer {token}"}
    before = versions(factory)
    answer = client.put("/api/v1/cabinets/XH-0001/settings", json={"hold_fen": 1}, headers=headers)
    assert answer.status_code == 403
    assert [c["code"] for c in client.get("/api/v1/settings", headers=headers).json()["cabinets"]] == []
    assert versions(factory) == before


def test_fleet_defaults_come_from_the_clouds_settings(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as db:
        changed = cabinet_settings.install_fleet_defaults(db, CabinetSettings(hold_fen=4200))
        assert len(changed) == 6  # every cabinet of the demo fleet gets a new config
    with transaction(factory) as db:
        assert cabinet_settings.install_fleet_defaults(db, CabinetSettings(hold_fen=4200)) == []  # a restart
        assert cabinet_settings.effective_settings(db, cabinet_by_code(db, "XH-0004")).hold_fen == 4200


def test_a_stored_override_no_longer_valid_falls_back_and_telemetry_goes_on(
    factory: sessionmaker[Session],
) -> None:
    with transaction(factory) as db:
        cabinet = cabinet_by_code(db, "XH-0002")
        cabinet.store.settings = {"hold_fen": 800, "retired_setting": 3}
        cabinet.settings = {"silence_s": 1, "hold_fen": 700}  # as an older version may have kept them
    with transaction(factory) as db:
        cabinet = cabinet_by_code(db, "XH-0002")
        settings = cabinet_settings.effective_settings(db, cabinet)
        assert (settings.silence_s, settings.hold_fen) == (CabinetSettings().silence_s, 800)
        telemetry.record(db, cabinet, Telemetry(outbox_depth=101))
    assert ("XH-0002", "outbox_backlog") in open_alarms(factory)


def test_a_store_override_that_would_silence_one_of_its_cabinets_is_refused(
    client: TestClient, ops: dict[str, str], factory: sessionmaker[Session]
) -> None:
    slow = client.put("/api/v1/cabinets/XH-0002/settings", json={"telemetry_interval_s": 50}, headers=ops)
    assert slow.status_code == 200, slow.text
    with factory() as db:
        store_id = db.scalar(select(Store.id).where(Store.code == "SH-XH-01"))
    before = versions(factory)
    answer = client.put(f"/api/v1/stores/{store_id}/settings", json={"silence_s": 45}, headers=ops)
    assert answer.status_code == 409
    assert (answer.json()["code"], answer.json()["params"]["name"]) == ("invalid_setting", "settings")
    assert "XH-0002" in answer.json()["detail"]
    assert versions(factory) == before


@pytest.mark.postgres
@pytest.mark.parametrize("db_url", ["postgres"], indirect=True)
def test_two_changes_at_once_give_a_cabinet_two_versions(factory: sessionmaker[Session]) -> None:
    """A store change waits for a cabinet change in flight: each raises the version, none is lost
    (equal versions with different settings: the gateway would keep the first and never apply the second)."""
    before = versions(factory)["XH-0001"]
    first_in = threading.Event()

    def cabinet_change() -> None:
        with transaction(factory) as db:
            admin = db.scalar(select(User).where(User.name == "admin"))
            assert admin is not None
            cabinet_settings.set_overrides(
                db, admin, {"hold_fen": 1000}, cabinet=cabinet_by_code(db, "XH-0001")
            )
            first_in.set()
            time.sleep(0.5)  # still holding the cabinet

    def store_change() -> None:
        first_in.wait(10)
        with transaction(factory) as db:
            admin = db.scalar(select(User).where(User.name == "admin"))
            assert admin is not None
            store = cabinet_by_code(db, "XH-0001").store  # read before the first commits
            cabinet_settings.set_overrides(db, admin, {"chilled_max_c": 6}, store=store)

    threads = [threading.Thread(target=cabinet_change), threading.Thread(target=store_change)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(20)
    assert versions(factory)["XH-0001"] == before + 2
