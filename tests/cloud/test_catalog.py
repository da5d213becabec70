"""The cloud seeds the demo fleet from its own catalogue: the cabinets the simulator ships."""

from __future__ import annotations

import json

from cloud.domain.fleet import CATALOG
from firmware_sim.layout import catalog, layout_names, load_layout


def test_the_cloud_catalogue_is_the_simulators() -> None:
    ours = json.loads(CATALOG.read_text(encoding="utf-8"))
    assert ours["products"] == [p.model_dump(mode="json") for p in catalog().values()]
    assert ours["layouts"] == {
        name: [c.model_dump(mode="json") for c in load_layout(name).channels] for name in layout_names()
    }
