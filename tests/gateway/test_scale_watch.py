"""The gateway's scale watch: alarms with figures, once per condition, and a wider noise model for a
degrading cell, so inference flags what a drifting zero blurs and never charges it wrongly."""

from __future__ import annotations

import random
from datetime import UTC, datetime, timedelta
from typing import Any

from gateway.alarms import Alarms
from gateway.inference import infer_channel
from gateway.scale_health import Limits
from gateway.scale_watch import ScaleWatch
from protocols.serial.commands import ChannelWeight
from tests.gateway.test_inference import CANS, NOISE, SHELF

T0 = datetime(2026, 11, 26, tzinfo=UTC)
DRIFT_G_PER_H = 30.0


def watched(drift: dict[int, float], hours: float = 2.0) -> tuple[ScaleWatch, list[tuple[str, str, Any]]]:
    raised: list[tuple[str, str, Any]] = []
    watch = ScaleWatch(Limits(), Alarms(lambda kind, state, fields: raised.append((kind, state, fields))))
    rng = random.Random(3)
    for step in range(int(hours * 3600 / 5)):
        for channel in (0, 1):
            grams = 500 + drift.get(channel, 0.0) * step * 5 / 3600 + rng.gauss(0, 0.8)
            reading = ChannelWeight(round(grams * 1000), True)
            watch.observe(channel, reading, T0 + timedelta(seconds=step * 5), quiet=True)
    return watch, raised


def test_a_drifting_channel_raises_scale_drift_once_with_its_figures() -> None:
    watch, said = watched({1: DRIFT_G_PER_H})
    raised = [(kind, fields) for kind, state, fields in said if state == "raised"]
    assert [(kind, fields["channel"]) for kind, fields in raised] == [("scale_drift", 1)]
    health = raised[0][1]["scale"]
    assert health.verdict == "degrading"
    assert health.drift_g_per_h is not None
    assert abs(health.drift_g_per_h - DRIFT_G_PER_H) < 3
    by_channel = {s.channel: s.verdict for s in watch.summaries()}
    assert by_channel == {0: "ok", 1: "degrading"}


def test_a_healthy_channel_keeps_the_base_noise_model() -> None:
    watch, _ = watched({1: DRIFT_G_PER_H})
    assert watch.noise(NOISE, [0]) == NOISE
    assert watch.noise(NOISE, [0, 1]).drift_g > NOISE.drift_g + DRIFT_G_PER_H * 0.9


def test_inference_on_a_degrading_cell_flags_and_never_charges_wrongly() -> None:
    """Zero offsets up to the drift measured: the base model charges some of them wrongly (so the
    widening matters), the widened one charges right or flags, never wrong."""
    watch, _ = watched({0: DRIFT_G_PER_H, 1: DRIFT_G_PER_H})
    wrong_before = 0
    for channel in (SHELF, CANS):
        wide = watch.noise(NOISE, [channel.channel])
        for offset in range(-int(DRIFT_G_PER_H), int(DRIFT_G_PER_H) + 1, 5):
            for a in range(-3, 1):
                for b in range(-3, 1):
                    truth = {(lane.sku, n) for lane, n in zip(channel.lanes, (a, b), strict=True) if n}
                    if not truth:
                        continue
                    observed = sum(
                        lane.unit_weight_g * n for lane, n in zip(channel.lanes, (a, b), strict=True)
                    )
                    base = infer_channel(channel, observed + offset, noise=NOISE)
                    wrong_before += base.outcome == "ok" and {(c.sku, c.delta) for c in base.changes} != truth
                    result = infer_channel(channel, observed + offset, noise=wide)
                    if result.outcome == "ok":
                        assert {(c.sku, c.delta) for c in result.changes} == truth
                    else:
                        assert truth in [
                            {(c.sku, c.delta) for c in cand.changes} for cand in result.candidates
                        ]
    assert wrong_before > 0, "the offsets tried must fool the base model, or this proves nothing"


def test_a_tare_restarts_the_figures_but_not_the_alarm() -> None:
    watch, said = watched({1: DRIFT_G_PER_H})
    before = len(said)
    watch.tared([1])
    (health,) = [s for s in watch.summaries() if s.channel == 1]
    assert health.drift_g_per_h is None
    assert health.verdict == "degrading", "until the readings after the tare say otherwise"
    assert len(said) == before


def test_a_restarted_gateway_says_once_what_it_no_longer_sees() -> None:
    """The gateway before may have raised them: each healthy channel's first verdicts are sent as
    cleared (the cloud resolves what is open, or ignores them), then nothing more."""
    _, said = watched({}, hours=1)
    assert sorted((kind, state, fields["channel"]) for kind, state, fields in said) == [
        (kind, "cleared", channel)
        for kind in ("scale_drift", "scale_noise", "scale_stuck")
        for channel in (0, 1)
    ]
