"""10,000 simulated cabinets (`sim fleet`) against Mosquitto + one ingest worker process + PostgreSQL.

Ingest lag is what a gateway sees: event published → evack back (stored and committed in between).
The fleet plays the evening peak hour of the seed city's day (40 visits per cabinet a day, two door
events each); then the same connections play several times that rate to find where lag passes 1 s.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
import uuid
from dataclasses import replace
from pathlib import Path

from sqlalchemy import text

from cloud.db.engine import make_engine
from firmware_sim.demo.servers import MosquittoServer, PostgresServer, terminate
from firmware_sim.fleet import DAY_CURVE, Fleet, FleetOptions
from protocols.mqtt.schemas import DoorEvent, DoorReading, Telemetry, encode
from tests.bench.city import populate
from tests.bench.report import Figure

CABINETS = 10_000
PEAK = 18  # local hour with the most visits
CITY = FleetOptions(cabinets=CABINETS, mqtt_url="", rate=40, hour=PEAK, duration_s=60, settle_s=20)
MULTIPLES = (3, 10, 30, 100)  # of the city's event rate, 15 s each
GROWING = ("processed_events", "temperature_minutes", "alarms", "stock_movements")
VENDFLEET = str(Path(sys.executable).parent / "vendfleet")


def _growing_bytes(db_url: str) -> int:
    engine = make_engine(db_url)
    with engine.connect() as db:
        total = sum(db.scalar(text(f"SELECT pg_total_relation_size('{t}')")) or 0 for t in GROWING)
    engine.dispose()
    return int(total)


def _wait_all_online(db_url: str, timeout_s: float) -> None:
    engine = make_engine(db_url)
    deadline = time.monotonic() + timeout_s
    with engine.connect() as db:
        while time.monotonic() < deadline:
            online = db.scalar(text("SELECT count(*) FROM cabinets WHERE online AND code LIKE 'SIM-%'"))
            db.rollback()
            if online == CABINETS:
                break
            time.sleep(1)
    engine.dispose()


def _day_of_messages() -> int:
    """Bytes one cabinet sends in a day: the floor of what storing them can cost."""
    event = DoorEvent(event_id=uuid.uuid4(), seq=1, cabinet_id="SIM-00001", door=0, action="opened")
    sample = Telemetry(
        temperatures_c=[4.1, 4.5], doors=[DoorReading(door=d, open=False, locked=True) for d in (0, 1)]
    )
    return 2 * int(CITY.rate) * len(encode(event)) + 1440 * len(encode(sample))


def _events_per_s(options: FleetOptions) -> float:
    return 2 * options.cabinets * options.rate * DAY_CURVE[PEAK] / sum(DAY_CURVE) / 3600


def run() -> list[Figure]:
    broker = MosquittoServer().start()
    postgres = PostgresServer().start()
    worker = None
    fleet = None
    try:
        db_url = postgres.create_database("bench_fleet")
        options = replace(CITY, mqtt_url=broker.url)
        populate(db_url, options)
        with tempfile.TemporaryDirectory() as keys:
            argv = [VENDFLEET, "cloud", "ingest", "--db", db_url, "--mqtt", broker.url, "--key-dir", keys]
            with open(Path(keys) / "ingest.log", "wb") as log:  # silence: three missed samples (city.py)
                worker = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT)
            time.sleep(4)
            fleet = Fleet(options)
            start = time.monotonic()
            fleet.connect()
            connect_s = time.monotonic() - start
            fleet.options = replace(options, duration_s=10, settle_s=10)
            fleet.run()  # every cabinet's first sample: the rows that do not grow
            _wait_all_online(db_url, timeout_s=120)  # the birth storm is behind us
            fleet.options = options
            before = _growing_bytes(db_url)
            city = fleet.run()
            grown = _growing_bytes(db_url) - before
            steps = {}
            for multiple in MULTIPLES:
                fleet.options = replace(options, rate=options.rate * multiple, duration_s=15, settle_s=20)
                steps[multiple] = fleet.run()
            alarms = (Path(keys) / "ingest.log").read_text().count('"alarm"')
            print(f"worker log: {alarms} alarm lines (a healthy city raises none)", file=sys.stderr)
    finally:
        if fleet is not None:
            fleet.close()
        if worker is not None:
            terminate(worker)
        postgres.cleanup()
        broker.cleanup()
    summary = city.summary()
    cabinet_days = CABINETS * city.seconds / 86_400
    largest = max(
        [1, *(m for m, r in steps.items() if r.summary()["ack_p99_ms"] < 1000 and r.acked == r.sent)]
    )
    print(
        f"sim fleet, {CABINETS:,} cabinets: connected in {connect_s:.0f} s; city rate {summary}",
        file=sys.stderr,
    )
    for multiple, report in steps.items():
        print(f"  ×{multiple}: {report.summary()}", file=sys.stderr)
    events = _events_per_s(options)
    return [
        Figure(
            f"ingest lag p99 (event → evack), {CABINETS:,} cabinets, city peak ({events:.0f} events/s)",
            "ms",
            float(summary["ack_p99_ms"]),
            "the target",
            1000.0,
        ),
        Figure(
            "largest fleet (events at the city's rate) with ingest lag p99 < 1 s, 1 worker",
            "cabinets",
            float(largest * CABINETS),
            "the city",
            float(CABINETS),
            higher_is_better=True,
        ),
        Figure(
            "database growth per cabinet-day (events, roll-ups, alarms, ledger)",
            "kB",
            grown / cabinet_days / 1000,
            "the day's messages as sent (events, telemetry each minute)",
            _day_of_messages() / 1000,
        ),
    ]
