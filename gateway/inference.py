"""Weight inference: from a channel's weight change, the most likely change in item counts.

Pure functions of (planogram, baseline, final, noise model). A bounded integer search over the
per-lane count changes, scored by a Gaussian likelihood and a prior that prefers fewer moved
pieces; an uncertain answer is reported as ambiguous with its candidates, never guessed.
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from protocols.planogram import Channel, Lane, Planogram
from protocols.planogram_lint import NoiseModel

Mode = Literal["resident", "restock"]
Outcome = Literal["ok", "ambiguous", "unexplained", "fault"]

WINDOW_SIGMAS = 6.0  # candidates further than this from the observation are not considered
UNEXPLAINED_SIGMAS = 4.0  # best candidate this far off: a foreign object or a scale fault
LOG_PIECE = math.log(0.2)  # prior: each moved piece makes a basket less likely
LOG_PUT = math.log(0.02)  # prior, resident mode: putting in a piece that was not taken
MAX_CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class LaneChange:
    channel: int
    lane: int
    sku: str
    delta: int  # negative: taken out


@dataclass(frozen=True, slots=True)
class Candidate:
    changes: tuple[LaneChange, ...]
    probability: float


@dataclass(frozen=True, slots=True)
class ChannelInference:
    channel: int
    delta_g: float
    outcome: Outcome
    confidence: float
    changes: tuple[LaneChange, ...]  # the best basket (empty unless outcome is "ok")
    candidates: tuple[Candidate, ...]  # best first


@dataclass(frozen=True, slots=True)
class BasketInference:
    channels: tuple[ChannelInference, ...]
    lanes: tuple[LaneChange, ...]
    confidence: float
    ambiguous: bool
    candidates: tuple[Candidate, ...]  # whole-basket alternatives when one channel is unsure


def lane_bounds(
    channel: Channel, mode: Mode, stock: Mapping[tuple[int, int], int] | None
) -> tuple[list[int], list[int]]:
    """Per-lane (lowest, highest) count change that is physically possible."""
    low, high = [], []
    for lane in channel.lanes:
        known = None if stock is None else stock.get((channel.channel, lane.lane))
        on_shelf = lane.capacity if known is None else max(0, known)
        low.append(-on_shelf)
        room = lane.capacity - (0 if known is None else known)
        high.append(max(0, room) if mode == "restock" else min(2, max(0, room)))
    return low, high


def _search(
    lanes: Sequence[Lane], low: list[int], high: list[int], target: float, window: float
) -> Iterator[tuple[int, ...]]:
    """Count vectors within bounds whose nominal weight lies within `window` of `target`."""
    n = len(lanes)
    weights = [lane.unit_weight_g for lane in lanes]
    # Weight range the lanes after position i can still add: prunes most of the box.
    rest_min = [0.0] * (n + 1)
    rest_max = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        rest_min[i] = rest_min[i + 1] + low[i] * weights[i]
        rest_max[i] = rest_max[i + 1] + high[i] * weights[i]

    def walk(i: int, partial: float, chosen: list[int]) -> Iterator[tuple[int, ...]]:
        if i == n:
            yield tuple(chosen)
            return
        for count in range(low[i], high[i] + 1):
            w = partial + count * weights[i]
            if w + rest_min[i + 1] - window <= target <= w + rest_max[i + 1] + window:
                chosen.append(count)
                yield from walk(i + 1, w, chosen)
                chosen.pop()

    yield from walk(0, 0.0, [])


def _log_score(
    lanes: Sequence[Lane], counts: tuple[int, ...], delta_g: float, noise: NoiseModel, mode: Mode
) -> tuple[float, float]:
    """(log posterior up to a constant, residual in sigmas)."""
    expected = sum(c * lane.unit_weight_g for lane, c in zip(lanes, counts, strict=True))
    sigma = noise.sigma(list(zip(lanes, counts, strict=True)))
    z = (delta_g - expected) / sigma
    prior = sum(abs(c) for c in counts) * LOG_PIECE
    if mode == "resident":
        prior += sum(c for c in counts if c > 0) * LOG_PUT
    return -0.5 * z * z - math.log(sigma) + prior, abs(z)


def infer_channel(
    channel: Channel,
    delta_g: float,
    *,
    noise: NoiseModel,
    mode: Mode = "resident",
    stock: Mapping[tuple[int, int], int] | None = None,
    min_confidence: float = 0.95,
) -> ChannelInference:
    """The most likely change in counts on one channel, or why it cannot be told."""
    lanes = channel.lanes
    low, high = lane_bounds(channel, mode, stock)
    loose = noise.sigma([(lane, max(-lo, hi)) for lane, lo, hi in zip(lanes, low, high, strict=True)])
    scored = [
        (counts, *_log_score(lanes, counts, delta_g, noise, mode))
        for counts in _search(lanes, low, high, delta_g, WINDOW_SIGMAS * loose)
    ]
    if not scored or min(z for _, _, z in scored) > UNEXPLAINED_SIGMAS:
        return ChannelInference(channel.channel, delta_g, "unexplained", 0.0, (), ())
    top = max(s for _, s, _ in scored)
    total = sum(math.exp(s - top) for _, s, _ in scored)
    ranked = sorted(scored, key=lambda item: -item[1])
    candidates = tuple(
        Candidate(_changes(channel, counts), math.exp(s - top) / total)
        for counts, s, _ in ranked[:MAX_CANDIDATES]
    )
    best = candidates[0]
    if best.probability < min_confidence:
        return ChannelInference(channel.channel, delta_g, "ambiguous", best.probability, (), candidates)
    return ChannelInference(channel.channel, delta_g, "ok", best.probability, best.changes, candidates)


def _changes(channel: Channel, counts: tuple[int, ...]) -> tuple[LaneChange, ...]:
    return tuple(
        LaneChange(channel.channel, lane.lane, lane.sku, c)
        for lane, c in zip(channel.lanes, counts, strict=True)
        if c
    )


def infer_basket(
    planogram: Planogram,
    baseline_g: Mapping[int, float],
    final_g: Mapping[int, float],
    *,
    noise: NoiseModel,
    mode: Mode = "resident",
    stock: Mapping[tuple[int, int], int] | None = None,
    faulty: frozenset[int] = frozenset(),
    min_confidence: float = 0.95,
) -> BasketInference:
    """Infer every channel present in both readings; a faulty channel (one without a reading
    included) makes the basket unsure."""
    results = []
    for channel in planogram.channels:
        if channel.channel in faulty:  # with or without readings: we cannot say what it lost
            delta = final_g.get(channel.channel, 0.0) - baseline_g.get(channel.channel, 0.0)
            results.append(ChannelInference(channel.channel, delta, "fault", 0.0, (), ()))
            continue
        if channel.channel not in baseline_g or channel.channel not in final_g:
            continue
        delta = final_g[channel.channel] - baseline_g[channel.channel]
        results.append(
            infer_channel(channel, delta, noise=noise, mode=mode, stock=stock, min_confidence=min_confidence)
        )
    return _combine(tuple(results))


def _combine(results: tuple[ChannelInference, ...]) -> BasketInference:
    lanes = tuple(c for r in results for c in r.changes)
    confidence = math.prod(r.confidence for r in results) if results else 1.0
    unsure = [r for r in results if r.outcome != "ok"]
    candidates: tuple[Candidate, ...] = ()
    if len(unsure) == 1 and unsure[0].candidates:
        # Only one channel is unsure: the whole-basket alternatives are that channel's.
        sure = tuple(c for r in results if r.outcome == "ok" for c in r.changes)
        candidates = tuple(Candidate(sure + alt.changes, alt.probability) for alt in unsure[0].candidates)
    return BasketInference(results, lanes, confidence, bool(unsure), candidates)
