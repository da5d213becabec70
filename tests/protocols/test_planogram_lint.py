import pytest

from firmware_sim.layout import layout_names, load_layout, planogram_of
from protocols.planogram import Channel, Lane, Planogram
from protocols.planogram_lint import NoiseModel, PlanogramRejected, check_planogram, lint_planogram


def lane(n: int, sku: str, grams: float, tolerance: float) -> Lane:
    return Lane(lane=n, sku=sku, unit_weight_g=grams, tolerance_g=tolerance, capacity=10)


def shelf(*lanes: Lane) -> Planogram:
    return Planogram(channels=(Channel(channel=2, lanes=lanes),))


def test_two_of_a_within_tolerance_of_one_b_is_rejected() -> None:
    planogram = shelf(lane(0, "cola-330", 330, 10), lane(1, "water-1l", 655, 8))
    with pytest.raises(PlanogramRejected) as info:
        check_planogram(planogram)
    message = str(info.value)
    assert "channel 2: 1 × water-1l (655 g ±8) cannot be told from 2 × cola-330 (660 g ±20)" in message


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
