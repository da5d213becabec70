"""The ops API and page with a city in the database (10,000 cabinets on PostgreSQL), over real HTTP."""

from __future__ import annotations

import random
import subprocess
import sys
import time
from datetime import UTC, datetime
from pathlib import Path

import httpx
from sqlalchemy import insert, select

from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry
from firmware_sim.demo.servers import MosquittoServer, PostgresServer, free_port, terminate
from firmware_sim.fleet import FleetOptions
from protocols.mqtt.schemas import DoorReading, Telemetry
from tests.bench.city import populate
from tests.bench.report import Figure

CABINETS = 10_000
REQUESTS = 200
VENDFLEET = str(Path(sys.executable).parent / "vendfleet")


def live_state(db_url: str) -> None:
    """Every cabinet has reported; most are online; one in twenty has an open alarm."""
    engine = make_engine(db_url)
    now = datetime.now(UTC)
    sample = Telemetry(temperatures_c=[4.2, 4.6], doors=[DoorReading(door=0, open=False, locked=True)])
    payload = sample.model_dump(mode="json")
    pick = random.Random(1)
    with transaction(session_factory(engine)) as db:
        ids = list(db.scalars(select(Cabinet.id)))
        db.execute(
            insert(CabinetTelemetry), [{"cabinet_id": i, "received_at": now, "payload": payload} for i in ids]
        )
        alarmed = pick.sample(ids, len(ids) // 20)
        db.execute(
            insert(Alarm),
            [
                {"cabinet_id": i, "kind": "temperature_high", "state": "open", "opened_at": now}
                for i in alarmed
            ],
        )
        for cabinet in db.scalars(
            select(Cabinet).where(Cabinet.id.in_(pick.sample(ids, len(ids) * 9 // 10)))
        ):
            cabinet.online, cabinet.last_seen = True, now
    engine.dispose()


def p99_ms(client: httpx.Client, path: str, headers: dict[str, str] | None = None) -> tuple[float, int]:
    """p99 of REQUESTS sequential GETs (after a few to warm up), and the response's size."""
    for _ in range(5):
        client.get(path, headers=headers).raise_for_status()
    times = []
    size = 0
    for _ in range(REQUESTS):
        start = time.perf_counter()
        answer = client.get(path, headers=headers)
        times.append(time.perf_counter() - start)
        answer.raise_for_status()
        size = len(answer.content)
    times.sort()
    return times[int(0.99 * len(times))] * 1000, size


def run() -> list[Figure]:
    broker = MosquittoServer().start()
    postgres = PostgresServer().start()
    server = None
    try:
        db_url = postgres.create_database("bench_ops")
        populate(db_url, FleetOptions(cabinets=CABINETS, mqtt_url=broker.url))
        live_state(db_url)
        port = free_port()
        argv = [VENDFLEET, "cloud", "serve", "--db", db_url, "--mqtt", broker.url, "--port", str(port)]
        server = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as client:
            deadline = time.monotonic() + 60
            while time.monotonic() < deadline:
                try:
                    if client.get("/healthz").status_code == 200:
                        break
                except httpx.TransportError:
                    time.sleep(0.2)
            login = client.post("/api/v1/auth/login", json={"username": "admin", "password": "admin-demo"})
            admin = {"Authorization": f"Bearer {login.raise_for_status().json()['token']}"}
            floor, _ = p99_ms(client, "/healthz")
            measured = {
                "/api/v1/fleet (page of 100)": p99_ms(client, "/api/v1/fleet", admin),
                "/api/v1/fleet?state=alarm": p99_ms(client, "/api/v1/fleet?state=alarm", admin),
                "/api/v1/fleet/map (every cabinet)": p99_ms(client, "/api/v1/fleet/map", admin),
                "/ops (page)": p99_ms(client, "/ops"),
            }
    finally:
        if server is not None:
            terminate(server)
        postgres.cleanup()
        broker.cleanup()
    return [
        Figure(
            f"GET {path} p99, {CABINETS:,} cabinets on PG ({size / 1000:.0f} kB)",
            "ms",
            value,
            "GET /healthz p99 (SELECT 1), same server",
            floor,
        )
        for path, (value, size) in measured.items()
    ]
