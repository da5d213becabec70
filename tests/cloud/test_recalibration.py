"""A drifting scale: the gateway's scale_drift opens a recalibration task for the next restock visit,
the restocker's tare goes out as a signed command, and only the gateway's all-clear closes it."""

from __future__ import annotations

import json
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.models import Alarm, OutboxMessage, ScaleRecalibration
from cloud.domain import ingest
from protocols.mqtt.schemas import AlarmEvent, ScaleHealth, TareAction
from protocols.signing import CommandVerifier, MemoryReplayGuard, load_public_key
from tests.cloud.api_roles import add_other_store, api_client, role_headers

CAB = "XH-0001"


@pytest.fixture
def client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    add_other_store(factory)
    with api_client(factory, db_url, tmp_path) as test_client:
        yield test_client


def drift_event(seq: int, state: str, drift: float | None, channel: int = 1) -> AlarmEvent:
    health = ScaleHealth(
        channel=channel, verdict="degrading" if state == "raised" else "ok", drift_g_per_h=drift
    )
    return AlarmEvent(
        event_id=uuid.uuid4(),
        seq=seq,
        cabinet_id=CAB,
        alarm="scale_drift",
        state=state,  # type: ignore[arg-type]
        channel=channel,
        scale=health,
    )


def store(factory: sessionmaker[Session], *events: AlarmEvent) -> None:
    with transaction(factory) as db:
        for event in events:
            ingest.store_event(db, CAB, event)


def tasks(factory: sessionmaker[Session]) -> list[tuple[int, str]]:
    with factory() as db:
        return [
            (t.channel, t.state)
            for t in db.scalars(select(ScaleRecalibration).order_by(ScaleRecalibration.id))
        ]


def test_drift_alarm_task_signed_tare_and_verified_by_the_gateway(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    headers = role_headers(client, factory)
    store(factory, drift_event(1, "raised", 14.5), drift_event(2, "raised", 15.0))  # the second: a redelivery
    with factory() as db:
        (alarm,) = db.scalars(select(Alarm).where(Alarm.kind == "scale_drift"))
        assert alarm.state == "open"
        assert alarm.key == "1"
        assert alarm.evidence["params"]["drift_g_per_h"] == 14.5, "the figure a page words"
    assert tasks(factory) == [(1, "due")]

    listed = client.get(f"/api/v1/cabinets/{CAB}/recalibrations", headers=headers["staff"]).json()
    assert [(t["channel"], t["state"], t["drift_g_per_h"]) for t in listed] == [(1, "due", 14.5)]
    assert (
        client.get(f"/api/v1/cabinets/{CAB}/recalibrations", headers=headers["other_staff"]).status_code
        == 403
    )

    answer = client.post(f"/api/v1/recalibrations/{listed[0]['id']}/tare", headers=headers["staff"])
    assert answer.status_code == 200
    assert answer.json()["state"] == "tared"
    with factory() as db:
        (message,) = db.scalars(select(OutboxMessage).where(OutboxMessage.kind == "command"))
        raw = message.payload
    public = load_public_key(client.get("/api/v1/keys/commands").content)
    command = CommandVerifier(public, CAB, MemoryReplayGuard()).verify(json.dumps(raw), datetime.now(UTC))
    assert command.body == TareAction(channel=1)
    assert tasks(factory) == [(1, "tared")], "a tare alone does not close it"

    store(factory, drift_event(3, "cleared", 0.4))
    assert tasks(factory) == [(1, "done")]
    with factory() as db:
        assert db.scalar(select(Alarm.state).where(Alarm.kind == "scale_drift")) == "resolved"
    assert client.get(f"/api/v1/cabinets/{CAB}/recalibrations", headers=headers["staff"]).json() == []
    refused = client.post(f"/api/v1/recalibrations/{listed[0]['id']}/tare", headers=headers["staff"])
    assert refused.status_code == 409


def test_a_drift_back_after_its_recalibration_is_a_new_task(factory: sessionmaker[Session]) -> None:
    store(
        factory, drift_event(1, "raised", 9.0), drift_event(2, "cleared", 1.0), drift_event(3, "raised", 11.0)
    )
    assert tasks(factory) == [(1, "done"), (1, "due")]


def test_a_due_recalibration_is_on_the_store_round_until_it_is_done(
    client: TestClient, factory: sessionmaker[Session]
) -> None:
    """The restocker follows the pick list: a scale to recalibrate is a task at that cabinet's stop (on
    the page and in the CSV), a stop of its own if nothing needs loading there."""
    headers = role_headers(client, factory)["staff"]

    def stop() -> tuple[bool, list[int], list[list[str]]]:
        round_ = client.get("/api/v1/stores/1/picklist", headers=headers).json()
        (cabinet,) = [c for c in round_["cabinets"] if c["code"] == CAB] or [{"recalibrate": []}]
        csv_rows = client.get("/api/v1/stores/1/picklist.csv", headers=headers).text.splitlines()
        tasks = [row.split(",") for row in csv_rows if row.endswith(",recalibrate")]
        return CAB in round_["route"], cabinet["recalibrate"], tasks

    assert stop()[1:] == ([], [])
    store(factory, drift_event(1, "raised", 14.5, channel=2))
    on_route, channels, rows = stop()
    assert on_route
    assert channels == [2]
    assert [(r[1], r[2]) for r in rows] == [(CAB, "2")]
    store(factory, drift_event(2, "cleared", 0.3, channel=2))
    assert stop()[1:] == ([], [])
