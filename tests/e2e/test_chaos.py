"""A short chaos day: the fleet shops and restocks while every kind of fault strikes at least once.

`vendfleet chaos` reckons at the end and exits non-zero on any difference between the ledger and
the physical truth, between what was taken and what was charged, on a lost session or a double
charge; this test holds it to that, and checks that the faults did happen.
"""

from __future__ import annotations

import re
import subprocess
from pathlib import Path

import pytest

from tests.sim_fixture import VENDFLEET

pytestmark = [pytest.mark.slow, pytest.mark.postgres]


def test_a_short_chaos_day_loses_nothing_and_charges_nothing_twice(pg_url: str, tmp_path: Path) -> None:
    argv = [VENDFLEET, "chaos", "--seed", "3", "--cabinets", "2", "--duration", "45", "--cut-for", "15"]
    argv += ["--settle", "20", "--db", pg_url, "--data-dir", str(tmp_path / "chaos")]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=110)
    out = done.stdout
    assert done.returncode == 0, out[-4000:] + done.stderr[-2000:]
    struck = re.search(r"faults injected: (\d+)\s+(.*)", out)
    assert struck, out
    for kind in ("broker_kill", "api_kill", "ingest_kill", "gateway_kill", "network_cut", "serial_noise"):
        assert kind in struck.group(2), out
    assert "serial_unplug" in struck.group(2), out
    for clean in ("ledger vs physical truth, charges vs takes: 0", "sessions lost: 0", "charged twice: 0"):
        assert clean in out, out
    visits = re.search(r"visits by residents: (\d+)", out)
    assert visits, out
    assert int(visits.group(1)) > 0, out
