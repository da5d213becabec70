"""A city in the database at once: the demo fixture, then thousands of cabinets by bulk insert.

`vendfleet cloud seed` lints each planogram and writes each cabinet's opening stock (minutes for
10,000); the benchmarks need the rows, not the checks, so these are a few multi-row INSERTs.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml
from sqlalchemy import insert, select

import cloud
from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.migrate import upgrade
from cloud.db.models import Cabinet, PlanogramLane, Product, Store
from cloud.domain import cabinet_settings
from cloud.domain.fleet import seed
from firmware_sim.demo.run import FIXTURE as DEMO_FLEET
from firmware_sim.fleet import FleetOptions, seed_fixture
from protocols.mqtt.schemas import CabinetSettings

FIXTURES = Path(cloud.__file__).parent / "fixtures"


def populate(db_url: str, options: FleetOptions) -> None:
    """The demo fleet plus `options.cabinets` cabinets (codes as `sim fleet` plays them), with planograms."""
    upgrade(db_url)
    engine = make_engine(db_url)
    fixture = seed_fixture(options)
    layouts: dict[str, Any] = json.loads((FIXTURES / "catalog.json").read_text())["layouts"]
    with transaction(session_factory(engine)) as db:
        seed(db, yaml.safe_load(DEMO_FLEET.read_text()))
        # The city's gateways report once a minute: three missed samples, not one late one, are silence.
        city = CabinetSettings(telemetry_interval_s=options.telemetry_s, silence_s=3 * options.telemetry_s)
        cabinet_settings.install_fleet_defaults(db, city)
        products = dict(db.execute(select(Product.sku, Product.id)).all())
        db.execute(insert(Store), fixture["stores"])  # type: ignore[arg-type]
        stores = dict(db.execute(select(Store.code, Store.id)).all())
        rows = [
            {
                **{k: c[k] for k in ("code", "layout", "lat", "lon")},
                "name": c["code"],
                "store_id": stores[c["store"]],
            }
            for c in fixture["cabinets"]  # type: ignore[attr-defined]
        ]
        db.execute(insert(Cabinet), [{**r, "config_version": 1, "online": False} for r in rows])
        ids = dict(db.execute(select(Cabinet.code, Cabinet.id)).all())
        lanes = [
            {
                "cabinet_id": ids[r["code"]],
                "channel": ch["channel"],
                "door": ch.get("door", 0),
                "lane": lane["lane"],
                "product_id": products[lane["sku"]],
                "capacity": lane["capacity"],
                "par_level": lane["capacity"],
            }
            for r in rows
            for ch in layouts[r["layout"]]
            for lane in ch["lanes"]
        ]
        db.execute(insert(PlanogramLane), lanes)
    engine.dispose()
