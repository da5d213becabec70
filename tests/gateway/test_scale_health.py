"""The load-cell health estimator, fed synthetic readings as a scale board would give them."""

from __future__ import annotations

import math
import random

import pytest

from gateway.scale_health import ADC_LIMIT_MG, ChannelHealth, Limits

POLL_S = 5.0
LIMITS = Limits()


def feed(
    health: ChannelHealth,
    start: float,
    seconds: float,
    *,
    zero: float = 0.0,
    drift_g_per_h: float = 0.0,
    noise_g: float = 0.8,
    creep_g: float = 0.0,
    quiet: bool = True,
    rng: random.Random,
) -> float:
    """Readings every POLL_S from `start`; returns the time after the last one."""
    t = start
    while t < start + seconds:
        creep = creep_g * (1 - math.exp(-(t - start) / 60))  # creep settles with a one-minute constant
        grams = zero + drift_g_per_h * t / 3600 + creep + rng.gauss(0, noise_g)
        health.observe(t, grams, round(grams * 1000), stable=True, fault=False, quiet=quiet)
        t += POLL_S
    return t


def test_a_healthy_cell_is_ok_with_its_figures() -> None:
    health, rng = ChannelHealth(), random.Random(1)
    feed(health, 0, 3 * 3600, zero=500, drift_g_per_h=0.6, rng=rng)
    f = health.figures()
    assert f.verdict == "ok"
    assert f.drift_g_per_h is not None
    assert abs(f.drift_g_per_h - 0.6) < 0.5
    assert f.noise_g is not None
    assert 0.5 < f.noise_g < 1.2
    assert not f.stuck
    assert not f.saturated


def test_nothing_is_claimed_before_enough_quiet_time() -> None:
    health, rng = ChannelHealth(), random.Random(2)
    feed(health, 0, LIMITS.creep_s + LIMITS.min_span_s / 2, drift_g_per_h=50, rng=rng)
    assert health.figures().drift_g_per_h is None
    assert health.figures().verdict == "ok"


@pytest.mark.parametrize("rate", [12.0, -30.0])
def test_a_drifting_cell_is_degrading_with_its_rate(rate: float) -> None:
    health, rng = ChannelHealth(), random.Random(3)
    feed(health, 0, 2 * 3600, zero=800, drift_g_per_h=rate, rng=rng)
    f = health.figures()
    assert f.drifting
    assert f.verdict == "degrading"
    assert f.drift_g_per_h is not None
    assert abs(f.drift_g_per_h - rate) < 1.5


def test_spikes_do_not_make_drift() -> None:
    health, rng = ChannelHealth(), random.Random(4)
    t = 0.0
    while t < 2 * 3600:
        grams = 300 + rng.gauss(0, 0.8) + (400 if rng.random() < 0.05 else 0)  # a knock now and then
        health.observe(t, grams, round(grams * 1000), stable=True, fault=False, quiet=True)
        t += POLL_S
    f = health.figures()
    assert f.drift_g_per_h is not None
    assert abs(f.drift_g_per_h) < 1.0
    assert not f.drifting


def test_changes_while_not_quiet_are_not_drift() -> None:
    """Pieces taken during sessions move the reading by hundreds of grams: none of it is drift."""
    health, rng = ChannelHealth(), random.Random(5)
    t, zero = 0.0, 1000.0
    for _ in range(4):
        t = feed(health, t, 1800, zero=zero, rng=rng)
        zero -= 250
        t = feed(health, t, 30, zero=zero + 100, noise_g=30, quiet=False, rng=rng)
    t = feed(health, t, 1800, zero=zero, rng=rng)
    assert not health.figures().drifting
    assert abs(health.figures().drift_g_per_h or 99) < LIMITS.drift_g_per_h / 2


def test_creep_after_a_load_change_is_measured() -> None:
    health, rng = ChannelHealth(), random.Random(6)
    t = feed(health, 0, 600, zero=100, rng=rng)
    t = feed(health, t, 20, zero=600, quiet=False, rng=rng)  # restocked
    feed(health, t, LIMITS.creep_s * 1.2, zero=600, creep_g=9.0, rng=rng)
    f = health.figures()
    assert f.creep_g is not None
    assert 6.0 < f.creep_g < 10.0
    assert f.drifting
    assert f.verdict == "degrading"


def test_a_noisy_cell_is_degrading_with_its_sigma() -> None:
    health, rng = ChannelHealth(), random.Random(7)
    feed(health, 0, 600, noise_g=8.0, rng=rng)
    f = health.figures()
    assert f.noisy
    assert f.verdict == "degrading"
    assert f.noise_g is not None
    assert 6.0 < f.noise_g < 10.0


def test_identical_raw_readings_are_stuck() -> None:
    health = ChannelHealth()
    for i in range(LIMITS.stuck_polls - 1):
        health.observe(i * POLL_S, 412.3, 412_300, stable=True, fault=False, quiet=True)
    assert not health.figures().stuck
    health.observe(LIMITS.stuck_polls * POLL_S, 412.3, 412_300, stable=True, fault=False, quiet=True)
    assert health.figures().stuck
    assert health.figures().verdict == "failing"
    health.observe(LIMITS.stuck_polls * POLL_S + 5, 412.4, 412_400, stable=True, fault=False, quiet=True)
    assert not health.figures().stuck


def test_a_reading_at_the_converter_limit_is_saturated() -> None:
    health = ChannelHealth()
    health.observe(0, 0.0, ADC_LIMIT_MG, stable=False, fault=True, quiet=True)
    assert health.figures().saturated
    assert health.figures().verdict == "failing"
    health.observe(5, 10.0, 10_000, stable=True, fault=False, quiet=True)
    assert not health.figures().saturated


def test_after_a_tare_the_verdict_waits_for_readings_then_clears() -> None:
    health, rng = ChannelHealth(), random.Random(8)
    t = feed(health, 0, 2 * 3600, drift_g_per_h=20, rng=rng)
    assert health.figures().drifting
    health.tared()
    assert health.figures().drift_g_per_h is None
    assert health.figures().drifting, "a tare alone proves nothing: readings after it must"
    t = feed(health, t, LIMITS.creep_s + LIMITS.min_span_s + 60, zero=-40, drift_g_per_h=0.3, rng=rng)
    f = health.figures()
    assert f.drift_g_per_h is not None
    assert abs(f.drift_g_per_h) < 2
    assert not f.drifting
    assert f.verdict == "ok"


def test_a_tare_does_not_clear_a_drift_that_goes_on() -> None:
    health, rng = ChannelHealth(), random.Random(9)
    t = feed(health, 0, 2 * 3600, drift_g_per_h=20, rng=rng)
    health.tared()
    feed(health, t, LIMITS.creep_s + LIMITS.min_span_s + 60, drift_g_per_h=20, rng=rng)
    assert health.figures().drifting
