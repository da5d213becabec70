"""Planogram lint: refuse shelves whose products one load cell cannot tell apart.

Shared by the gateway (before it accepts a `config`) and the cloud (before it stores one), so
both reject the same planograms with the same words. A shelf passes only if every basket a resident
may take (up to `max_take` pieces) weighs clearly apart from every other; given a planned restock
load, every load up to the lanes' room is checked the same way.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass

from protocols import ProtocolError
from protocols.planogram import Channel, Lane, Planogram

MAX_TAKE = 6  # residents take up to this many pieces in one visit (CabinetSettings.max_take)
LaneKey = tuple[int, int]  # (channel, lane)


@dataclass(frozen=True, slots=True)
class NoiseModel:
    """How far a weighed change may stray from the sum of its pieces' nominal weights."""

    sensor_sigma_g: float = 1.5  # one settled reading
    drift_g: float = 2.0  # zero drift allowed within one session
    separation_sigmas: float = 4.0  # lint: baskets closer than this are indistinguishable

    def sigma(self, pieces: Sequence[tuple[Lane, int]]) -> float:
        """Standard deviation of a measured change moving `count` pieces of each lane."""
        # Two readings (baseline and final), drift, and each piece within ±tolerance ≈ 2 sigma.
        variance = 2 * self.sensor_sigma_g**2 + self.drift_g**2
        variance += sum(abs(count) * (lane.tolerance_g / 2) ** 2 for lane, count in pieces)
        return math.sqrt(variance)


class PlanogramRejected(ProtocolError):
    """A planogram that would make weight inference guess."""


@dataclass(frozen=True, slots=True)
class LintProblem:
    channel: int
    message: str


def _baskets(bounds: Sequence[int], max_items: int) -> Iterator[tuple[int, ...]]:
    """Every count vector with each lane within its bound and at most `max_items` pieces in all."""
    for counts in itertools.product(*(range(b + 1) for b in bounds)):
        if 0 < sum(counts) <= max_items:
            yield counts


def _describe(lanes: Sequence[Lane], counts: tuple[int, ...]) -> str:
    parts = [
        f"{n} × {lane.sku} ({n * lane.unit_weight_g:g} g ±{n * lane.tolerance_g:g})"
        for lane, n in zip(lanes, counts, strict=True)
        if n
    ]
    return " + ".join(parts)


def _too_light(channel: Channel, noise: NoiseModel) -> list[LintProblem]:
    resolvable = noise.separation_sigmas * noise.sigma([])
    return [
        LintProblem(
            channel.channel,
            f"channel {channel.channel}: {lane.sku} weighs {lane.unit_weight_g:g} g, "
            f"below the {resolvable:.1f} g this scale can resolve",
        )
        for lane in channel.lanes
        if lane.unit_weight_g < resolvable
    ]


def _collisions(
    channel: Channel, noise: NoiseModel, bounds: Sequence[int], max_items: int, verb: str
) -> list[LintProblem]:
    """Disjoint baskets (no lane in both: a real mix-up) that weigh too close to tell apart."""
    lanes = channel.lanes
    weighed = sorted(
        (sum(n * lane.unit_weight_g for lane, n in zip(lanes, counts, strict=True)), counts)
        for counts in _baskets(bounds, max_items)
    )
    worst = max(lane.tolerance_g for lane in lanes)
    reach = noise.separation_sigmas * (noise.sigma([]) + worst * max_items)  # bounds any `needed`
    problems = []
    for i, (wa, a) in enumerate(weighed):
        for wb, b in weighed[i + 1 :]:
            if wb - wa > reach:  # sorted by weight: nothing further on can be closer
                break
            if any(x and y for x, y in zip(a, b, strict=True)):
                continue
            moved = [(lane, x + y) for lane, x, y in zip(lanes, a, b, strict=True)]
            needed = noise.separation_sigmas * noise.sigma(moved)
            if wb - wa < needed:
                problems.append(
                    LintProblem(
                        channel.channel,
                        f"channel {channel.channel}: {verb} {_describe(lanes, a)} cannot be told from "
                        f"{_describe(lanes, b)}: {wb - wa:.0f} g apart, {needed:.0f} g needed",
                    )
                )
    return problems


def lint_planogram(
    planogram: Planogram,
    noise: NoiseModel | None = None,
    max_take: int = MAX_TAKE,
    restock: Mapping[LaneKey, int] | None = None,
) -> list[LintProblem]:
    """Every pair of baskets one channel cannot tell apart: resident takes of up to `max_take`
    pieces, and, given a planned restock (pieces to load per lane), every load up to that plan."""
    noise = noise or NoiseModel()
    problems = []
    for channel in planogram.channels:
        problems += _too_light(channel, noise)
        problems += _collisions(channel, noise, [max_take] * len(channel.lanes), max_take, "taking")
        planned = [0 if restock is None else restock.get((channel.channel, n.lane), 0) for n in channel.lanes]
        if any(planned):
            problems += _collisions(channel, noise, planned, sum(planned), "loading")
    return problems


def check_planogram(
    planogram: Planogram,
    noise: NoiseModel | None = None,
    max_take: int = MAX_TAKE,
    restock: Mapping[LaneKey, int] | None = None,
) -> None:
    """Raise PlanogramRejected listing every problem, or return quietly."""
    problems = lint_planogram(planogram, noise, max_take, restock)
    if problems:
        listed = "\n".join(f"- {p.message}" for p in problems[:20])
        more = f"\n(and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise PlanogramRejected(f"planogram rejected:\n{listed}{more}")
