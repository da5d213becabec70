"""`make demo` works: the whole fleet starts, residents shop, and the reconciliation finds nothing."""

from __future__ import annotations

import json
import subprocess
from pathlib import Path

import pytest

from tests.servers import free_port
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
    described = json.loads(manifest.read_text())
    assert {"cloud_url", "db_url", "mqtt_url", "cabinets", "users"} <= set(described)
    assert [c["layout"] for c in described["cabinets"]] == ["chilled-4shelf", "ambient-lanes"]
    assert {"id", "code", "layout", "control_url"} <= set(described["cabinets"][0])
