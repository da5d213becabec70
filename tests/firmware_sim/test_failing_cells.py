"""The simulator's failing load cells: drift, creep after a load change, noise, a stuck converter."""

from __future__ import annotations

import statistics

import pytest

from firmware_sim.cabinet import Cabinet
from firmware_sim.faults import parse_spec
from firmware_sim.layout import load_layout
from protocols.serial.commands import ChannelWeight, ReadWeights, Tare, Weights

SCALE_ADDR = 0x20


def cabinet(spec: str = "") -> Cabinet:
    return Cabinet(load_layout("chilled-4shelf"), seed=7, faults=parse_spec(spec))


def read(cab: Cabinet, channel: int) -> ChannelWeight:
    answer = cab.boards[SCALE_ADDR].handle(ReadWeights())
    assert isinstance(answer, Weights)
    return answer.channels[channel]


def mean_g(cab: Cabinet, channel: int, n: int = 40) -> float:
    return statistics.fmean(read(cab, channel).milligrams / 1000 for _ in range(n))


def test_the_spec_names_channels_and_amounts() -> None:
    faults = parse_spec("drift=2:40,creep=1:8,noisy=3:10,stuck_channel=0,drift=0x1:-5")
    assert faults.scale_drift == {2: 40.0, 1: -5.0}
    assert faults.scale_creep == {1: 8.0}
    assert faults.scale_noise == {3: 10.0}
    assert faults.stuck_channels == {0}
    with pytest.raises(ValueError, match="drift"):
        parse_spec("wobble=1")


def test_drift_walks_the_zero_of_its_channel_only_until_a_tare() -> None:
    cab = cabinet("drift=1:40")
    before = {c: mean_g(cab, c) for c in (0, 1)}
    cab.world.clock.advance(1800)
    assert mean_g(cab, 1) - before[1] == pytest.approx(20, abs=1.5)  # half an hour at 40 g/h
    assert mean_g(cab, 0) - before[0] == pytest.approx(0, abs=1.5)
    cab.boards[SCALE_ADDR].handle(Tare(1))
    zero = mean_g(cab, 1)
    cab.world.clock.advance(1800)
    assert mean_g(cab, 1) - zero == pytest.approx(0, abs=1.5), "the serviced shelf holds its zero"


def test_a_drift_set_over_the_control_acts_from_then_on() -> None:
    cab = cabinet()
    cab.world.clock.advance(3600)
    start = mean_g(cab, 2)
    cab.set_faults({"scale_drift": {2: -60.0}})
    cab.world.clock.advance(600)
    assert mean_g(cab, 2) - start == pytest.approx(-10, abs=1.5)


def test_creep_follows_a_load_change() -> None:
    cab = cabinet("creep=0:8")
    cab.world.open_door(0, force=True)
    sku = cab.world.cells[0].skus[0]
    cab.world.take(0, sku, 1)
    cab.world.close_door(0)
    cab.world.clock.advance(2)
    settled = mean_g(cab, 0)
    cab.world.clock.advance(600)
    assert mean_g(cab, 0) - settled == pytest.approx(8, abs=1.5)


def test_a_noisy_cell_is_noisier_and_a_stuck_one_repeats_itself() -> None:
    cab = cabinet("noisy=3:10,stuck_channel=0")
    noisy = statistics.stdev(read(cab, 3).milligrams / 1000 for _ in range(200))
    healthy = statistics.stdev(read(cab, 2).milligrams / 1000 for _ in range(200))
    assert 8 < noisy < 12
    assert healthy < 1.5
    assert len({read(cab, 0) for _ in range(20)}) == 1
