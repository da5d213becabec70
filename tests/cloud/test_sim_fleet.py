"""`vendfleet sim fleet` on a private Mosquitto and a real ingest worker: every event acknowledged, once."""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import timedelta
from pathlib import Path

from sqlalchemy import func, select
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.models import Cabinet, CabinetTelemetry, ProcessedEvent
from cloud.domain.fleet import seed
from cloud.ingest.worker import IngestWorker
from firmware_sim.demo.servers import MosquittoFactory
from firmware_sim.fleet import Fleet, FleetOptions, seed_fixture

CABINETS = 300


def test_a_fleet_of_cabinets_is_acknowledged_event_by_event_and_stored_once(
    factory: sessionmaker[Session], db_url: str, mosquitto_factory: MosquittoFactory
) -> None:
    broker = mosquitto_factory()
    # Busy: a visit every ~20 ms over the fleet, telemetry every 2 s; resends after 1 s, so some
    # events go twice while their first copy is still on its way.
    options = FleetOptions(
        cabinets=CABINETS, mqtt_url=broker.url, rate=15_000, hour=18, duration_s=6, telemetry_s=2,
        resend_s=1.0, settle_s=30,
    )  # fmt: skip
    with transaction(factory) as db:
        seed(db, seed_fixture(options))
    worker = IngestWorker(
        mqtt_url=broker.url, factory=factory, share_group="cloud",
        command_ttl=timedelta(minutes=2),
    ).start()  # fmt: skip
    fleet = Fleet(options)
    try:
        fleet.connect()
        assert fleet.report.connected == CABINETS
        report = fleet.run()
    finally:
        fleet.close()
        worker.stop()
    assert report.sent > 100
    assert report.acked == report.sent
    assert report.telemetry >= CABINETS
    with factory() as db:
        ours = select(Cabinet.id).where(Cabinet.code.like("SIM-%"))
        stored = db.scalar(
            select(func.count()).select_from(ProcessedEvent).where(ProcessedEvent.cabinet_id.in_(ours))
        )
        assert stored == report.sent  # resent events were not stored twice
        latest = (
            select(func.count()).select_from(CabinetTelemetry).where(CabinetTelemetry.cabinet_id.in_(ours))
        )
        assert db.scalar(latest) == CABINETS


def test_the_command_writes_the_clouds_fixture(tmp_path: Path) -> None:
    fixture = tmp_path / "fleet.json"
    vendfleet = str(Path(sys.executable).parent / "vendfleet")
    argv = [vendfleet, "sim", "fleet", "--cabinets", "250", "--mqtt", "mqtt://x:1", "--fixture", str(fixture)]
    subprocess.run(argv, check=True)
    written = json.loads(fixture.read_text())
    assert len(written["cabinets"]) == 250
    assert len(written["stores"]) == 3
