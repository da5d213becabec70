from __future__ import annotations

from pathlib import Path

import pytest

from firmware_sim.demo.servers import MosquittoFactory
from tests.deploy.site import Site, start_site


@pytest.fixture
def site(tmp_path: Path, mosquitto_factory: MosquittoFactory) -> Site:
    """deploy/'s broker with cabinets XH-0001 and XH-0002 and the cloud provisioned."""
    return start_site(tmp_path, mosquitto_factory, ("XH-0001", "XH-0002"))
