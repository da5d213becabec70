import subprocess
from pathlib import Path

import pytest

from firmware_sim.layout import layout_names, load_layout, planogram_of
from protocols.mqtt.schemas import Config, encode
from protocols.planogram import Channel, Lane, Planogram
from protocols.planogram_lint import NoiseModel, PlanogramRejected, check_planogram, lint_planogram
from tests.sim_fixture import VENDFLEET


def lane(n: int, sku: str, grams: float, tolerance: float) -> Lane:
    return Lane(lane=n, sku=sku, unit_weight_g=grams, tolerance_g=tolerance, capacity=10)


def shelf(*lanes: Lane) -> Planogram:
    return Planogram(channels=(Channel(channel=2, lanes=lanes),))


def test_two_of_a_within_tolerance_of_one_b_is_rejected() -> None:
    planogram = shelf(lane(0, "cola-330", 330, 10), lane(1, "water-1l", 655, 8))
    with pytest.raises(PlanogramRejected) as info:
        check_planogram(planogram)
    message = str(info.value)
    assert (
        "channel 2: taking 1 × water-1l (655 g ±8) cannot be told from 2 × cola-330 (660 g ±20): "
        "5 g apart, 35 g needed"
    ) in message


def test_a_sane_shelf_passes() -> None:
    planogram = shelf(lane(0, "can", 350, 4), lane(1, "bottle", 570, 6))
    assert lint_planogram(planogram) == []


def test_a_product_too_light_for_the_scale_is_rejected() -> None:
    problems = lint_planogram(shelf(lane(0, "gum", 3, 0.5)))
    assert any("below" in p.message for p in problems)


def test_noisier_scales_reject_more() -> None:
    planogram = shelf(lane(0, "can", 350, 4), lane(1, "bottle", 570, 6))
    assert lint_planogram(planogram, NoiseModel(sensor_sigma_g=25))


@pytest.mark.parametrize("name", layout_names())
def test_every_shipped_layout_passes(name: str) -> None:
    check_planogram(planogram_of(load_layout(name)))


def test_five_onigiri_against_three_sandwiches_is_rejected_and_explained() -> None:
    # Issue #12: the chilled shelf as it shipped; 4 pieces looked fine, residents take 6.
    planogram = shelf(lane(0, "ham-sandwich", 190, 6), lane(1, "tuna-onigiri", 112, 5))
    assert lint_planogram(planogram, max_take=4) == []
    messages = [p.message for p in lint_planogram(planogram)]
    assert messages == [
        "channel 2: taking 5 × tuna-onigiri (560 g ±25) cannot be told from 3 × ham-sandwich (570 g ±18): "
        "10 g apart, 33 g needed"
    ]
    with pytest.raises(PlanogramRejected, match="5 × tuna-onigiri"):
        check_planogram(planogram, max_take=6)


def test_a_planned_restock_is_checked_up_to_the_load() -> None:
    planogram = shelf(lane(0, "bright-milk-200", 209, 3), lane(1, "jianai-yogurt-135", 149, 3))
    assert lint_planogram(planogram) == []
    problems = lint_planogram(planogram, restock={(2, 0): 12, (2, 1): 12})
    assert any(
        "loading 7 × jianai-yogurt-135 (1043 g ±21) cannot be told from 5 × bright-milk-200 (1045 g ±15)"
        in p.message
        for p in problems
    )
    assert lint_planogram(planogram, restock={(2, 0): 4, (2, 1): 0}) == []


def test_the_cli_explains_a_rejected_shelf(tmp_path: Path) -> None:
    planogram = shelf(lane(0, "ham-sandwich", 190, 6), lane(1, "tuna-onigiri", 112, 5))
    path = tmp_path / "config.json"
    path.write_bytes(encode(Config(version=1, planogram=planogram)))
    done = subprocess.run([VENDFLEET, "gateway", "lint", str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert (
        "taking 5 × tuna-onigiri (560 g ±25) cannot be told from 3 × ham-sandwich (570 g ±18)" in done.stdout
    )
    relaxed = subprocess.run(
        [VENDFLEET, "gateway", "lint", str(path), "--max-take", "4"], capture_output=True
    )
    assert relaxed.returncode == 0
