"""Planogram lint: refuse shelves whose products one load cell cannot tell apart.

Shared by the gateway (before it accepts a `config`) and the cloud (before it stores one), so
both reject the same planograms with the same words.
"""

from __future__ import annotations

import itertools
import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from protocols import ProtocolError
from protocols.planogram import Channel, Lane, Planogram


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


def _baskets(lanes: Sequence[Lane], max_items: int) -> Iterator[tuple[int, ...]]:
    """Every way to take at most `max_items` pieces from these lanes (counts per lane)."""
    for counts in itertools.product(range(max_items + 1), repeat=len(lanes)):
        if 0 < sum(counts) <= max_items:
            yield counts


def _describe(lanes: Sequence[Lane], counts: tuple[int, ...]) -> str:
    parts = [
        f"{n} × {lane.sku} ({n * lane.unit_weight_g:g} g ±{n * lane.tolerance_g:g})"
        for lane, n in zip(lanes, counts, strict=True)
        if n
    ]
    return " + ".join(parts)


def _channel_problems(channel: Channel, noise: NoiseModel, max_items: int) -> list[LintProblem]:
    lanes = channel.lanes
    problems: list[LintProblem] = []
    resolvable = noise.separation_sigmas * noise.sigma([])
    for lane in lanes:
        if lane.unit_weight_g < resolvable:
            problems.append(
                LintProblem(
                    channel.channel,
                    f"channel {channel.channel}: {lane.sku} weighs {lane.unit_weight_g:g} g, "
                    f"below the {resolvable:.1f} g this scale can resolve",
                )
            )
    weighed = [
        (counts, sum(n * lane.unit_weight_g for lane, n in zip(lanes, counts, strict=True)))
        for counts in _baskets(lanes, max_items)
    ]
    for (a, wa), (b, wb) in itertools.combinations(weighed, 2):
        if not any(x and y for x, y in zip(a, b, strict=True)):  # disjoint: a real mix-up
            moved = [(lane, x + y) for lane, x, y in zip(lanes, a, b, strict=True)]
            if abs(wa - wb) < noise.separation_sigmas * noise.sigma(moved):
                problems.append(
                    LintProblem(
                        channel.channel,
                        f"channel {channel.channel}: {_describe(lanes, a)} cannot be told from "
                        f"{_describe(lanes, b)}",
                    )
                )
    return problems


def lint_planogram(
    planogram: Planogram, noise: NoiseModel | None = None, max_items: int = 4
) -> list[LintProblem]:
    """Every pair of baskets of up to `max_items` pieces one channel cannot tell apart."""
    noise = noise or NoiseModel()
    return [p for c in planogram.channels for p in _channel_problems(c, noise, max_items)]


def check_planogram(planogram: Planogram, noise: NoiseModel | None = None, max_items: int = 4) -> None:
    """Raise PlanogramRejected listing every problem, or return quietly."""
    problems = lint_planogram(planogram, noise, max_items)
    if problems:
        listed = "\n".join(f"- {p.message}" for p in problems[:20])
        more = f"\n(and {len(problems) - 20} more)" if len(problems) > 20 else ""
        raise PlanogramRejected(f"planogram rejected:\n{listed}{more}")
