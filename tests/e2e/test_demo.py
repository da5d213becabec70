"""`make demo` works: the whole fleet starts, residents shop, and the reconciliation finds nothing."""

from __future__ import annotations

import json
import sqlite3
import subprocess
from pathlib import Path

import pytest

from firmware_sim.demo.servers import free_port
from tests.sim_fixture import VENDFLEET

pytestmark = pytest.mark.slow


def test_demo_runs_and_reconciles(tmp_path: Path) -> None:
    manifest = tmp_path / "manifest.json"
    done = subprocess.run(
        [
            VENDFLEET,
            "demo",
            "--no-browser",
            "--cabinets",
            "2",
            "--duration",
            "25",
            "--speed",
            "30",
            "--port",
            str(free_port()),
            "--data-dir",
            str(tmp_path / "demo"),
            "--manifest",
            str(manifest),
        ],
        capture_output=True,
        text=True,
        timeout=110,
    )
    assert done.returncode == 0, done.stdout[-3000:] + done.stderr[-3000:]
    assert "every lane's ledger equals the physical truth" in done.stdout
    assert "staff / staff-demo" in done.stdout  # the logins, not only in a YAML file
    assert "ops / ops-demo" in done.stdout
    assert done.stdout.count("vendfleet demo ·") == 1  # the table once at the end, not twice glued
    # The README's phone is the reader's: no script spent from it.
    with sqlite3.connect(tmp_path / "demo" / "cloud.db") as db:
        ((balance, held),) = db.execute("SELECT balance_fen, held_fen FROM users WHERE phone = '13800138000'")
    assert (balance, held) == (20000, 0)
    described = json.loads(manifest.read_text())
    assert {"cloud_url", "db_url", "mqtt_url", "cabinets", "users"} <= set(described)
    assert [c["layout"] for c in described["cabinets"]] == ["chilled-4shelf", "ambient-lanes"]
    assert {"id", "code", "layout", "control_url"} <= set(described["cabinets"][0])
