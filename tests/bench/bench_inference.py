"""Weight inference for a whole cabinet against the time its shelves need to settle."""

from __future__ import annotations

from firmware_sim.layout import load_layout, planogram_of
from firmware_sim.world import SETTLE_S
from gateway.inference import infer_basket
from protocols.planogram_lint import NoiseModel
from tests.bench.report import Figure, per_op_us


def run() -> list[Figure]:
    planogram = planogram_of(load_layout("chilled-4shelf"))
    baseline = {0: 3000.0, 1: 4000.0, 2: 2000.0, 3: 2500.0}
    final = {0: 3000 - 2 * 209 - 149.0, 1: 4000 - 350.0, 2: 2000.0, 3: 2500 - 505.0}
    noise = NoiseModel()
    us = per_op_us(lambda: infer_basket(planogram, baseline, final, noise=noise), 200)
    return [Figure("infer a 4-shelf basket", "µs", us, "load cells settling after the door", SETTLE_S * 1e6)]
