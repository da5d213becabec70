"""Weight inference: from the weight changes of a door's shelves, the most likely basket.

Pure functions of (planogram, baseline, final, noise model, known stock). A door is judged as a
whole. Each shelf's hypotheses are bounded integer count changes of its lanes, plus pieces of the
door's other products left on it (a move: taken from shelf A, left on shelf B). The door's
hypotheses are the feasible combinations (a piece left on B must have left its own lane), scored
by a Gaussian likelihood per shelf and a prior that prefers fewer moved pieces. An answer is
definite only if it is likely enough and itself explains every shelf's delta within the noise
model; otherwise the session is ambiguous with its candidates, never guessed.
"""

from __future__ import annotations

import itertools
import math
from collections import Counter
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from typing import Literal

from protocols.planogram import Channel, Lane, Planogram
from protocols.planogram_lint import NoiseModel

Mode = Literal["resident", "restock"]
Outcome = Literal["ok", "ambiguous", "unexplained", "fault"]

WINDOW_SIGMAS = 6.0  # candidates further than this from the observation are not considered
UNEXPLAINED_SIGMAS = 4.0  # the answer this far off on any shelf: a foreign object or a scale fault
LOG_PIECE = math.log(0.5)  # prior: each moved piece makes a basket less likely (gently: 6 is no rarity)
LOG_PUT = math.log(0.02)  # prior, resident mode: putting in a piece that was not taken
LOG_MISPLACE = math.log(0.06)  # prior: a piece left on another shelf of the door (tuned by the bench)
MAX_MISPLACED = 1  # pieces of other shelves' products one shelf may have gained in a session
MAX_MOVES = 1  # pieces left on another shelf in one session
# Resident mode: "something else happened" (a swap, a foreign object, a scale off) is always a
# hypothesis, this much less likely than nothing happening. An answer that needs a chain of
# unlikely events to fit the weights loses to it, however alone it is in fitting them.
LOG_OTHER = math.log(1e-6)
CUT = 12.0  # hypotheses this many nats below the best carry no weight worth counting
MAX_LOCAL = 24  # per shelf, the best this many hypotheses enter the door's search
MAX_CANDIDATES = 5


@dataclass(frozen=True, slots=True)
class LaneChange:
    channel: int
    lane: int
    sku: str
    delta: int  # negative: taken out of the cabinet; positive: put in


@dataclass(frozen=True, slots=True)
class Move:
    """Pieces that left their lane but not the cabinet: they lie on another shelf of the door."""

    channel: int
    lane: int
    sku: str
    to_channel: int
    count: int


@dataclass(frozen=True, slots=True)
class Candidate:
    changes: tuple[LaneChange, ...]  # what crossed the door, per lane (moves are not in here)
    probability: float
    moves: tuple[Move, ...] = ()


@dataclass(frozen=True, slots=True)
class ChannelInference:
    channel: int
    delta_g: float
    outcome: Outcome
    confidence: float
    changes: tuple[LaneChange, ...]  # this shelf's part of the answer (empty unless "ok")
    candidates: tuple[Candidate, ...]  # best first


@dataclass(frozen=True, slots=True)
class BasketInference:
    channels: tuple[ChannelInference, ...]
    lanes: tuple[LaneChange, ...]  # the answer (empty when ambiguous)
    confidence: float
    ambiguous: bool
    candidates: tuple[Candidate, ...]  # best first; the alternatives when ambiguous
    moves: tuple[Move, ...] = ()  # of the answer


@dataclass(frozen=True, slots=True)
class _Local:
    """One shelf's hypothesis: its lanes' count changes and the foreign pieces it gained."""

    counts: tuple[int, ...]
    foreign: tuple[tuple[str, int], ...]  # (sku, pieces) left here from other shelves
    score: float  # log likelihood + log prior
    z: float  # residual in sigmas


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


@dataclass(frozen=True, slots=True)
class _Leaf:
    counts: tuple[int, ...]
    grams: float  # nominal weight change
    spread: float  # variance the pieces' tolerances add
    pieces: int  # pieces moved in all
    puts: int  # pieces put in


def _search(
    lanes: Sequence[Lane], low: list[int], high: list[int], target: float, window: float
) -> Iterator[_Leaf]:
    """Count vectors within bounds whose nominal weight lies within `window` of `target`."""
    n = len(lanes)
    weights = [lane.unit_weight_g for lane in lanes]
    spreads = [(lane.tolerance_g / 2) ** 2 for lane in lanes]
    # Weight range the lanes after position i can still add: prunes most of the box.
    rest_min = [0.0] * (n + 1)
    rest_max = [0.0] * (n + 1)
    for i in range(n - 1, -1, -1):
        rest_min[i] = rest_min[i + 1] + low[i] * weights[i]
        rest_max[i] = rest_max[i + 1] + high[i] * weights[i]

    def walk(i: int, leaf: _Leaf) -> Iterator[_Leaf]:
        w = weights[i]
        if i == n - 1:  # the last lane's count follows from the target: no scan
            lo = max(low[i], math.ceil((target - window - leaf.grams) / w))
            hi = min(high[i], math.floor((target + window - leaf.grams) / w))
        else:
            lo, hi = low[i], high[i]
        for count in range(lo, hi + 1):
            grams = leaf.grams + count * w
            if i < n - 1 and not (
                grams + rest_min[i + 1] - window <= target <= grams + rest_max[i + 1] + window
            ):
                continue
            step = _Leaf(
                (*leaf.counts, count),
                grams,
                leaf.spread + abs(count) * spreads[i],
                leaf.pieces + abs(count),
                leaf.puts + max(0, count),
            )
            if i == n - 1:
                yield step
            else:
                yield from walk(i + 1, step)

    yield from walk(0, _Leaf((), 0.0, 0.0, 0, 0))


def _local_hypotheses(
    channel: Channel,
    delta_g: float,
    strangers: Sequence[Lane],
    *,
    noise: NoiseModel,
    mode: Mode,
    stock: Mapping[tuple[int, int], int] | None,
) -> list[_Local]:
    """This shelf's plausible hypotheses, best first."""
    lanes = channel.lanes
    low, high = lane_bounds(channel, mode, stock)
    spread = [(lane, max(-lo, hi)) for lane, lo, hi in zip(lanes, low, high, strict=True)]
    spread += [(s, MAX_MISPLACED) for s in strangers]
    window = WINDOW_SIGMAS * noise.sigma(spread)
    put_cost = LOG_PUT if mode == "resident" else 0.0
    found = []
    for k in range(MAX_MISPLACED + 1):
        for left in itertools.combinations_with_replacement(strangers, k):
            extra = sum(s.unit_weight_g for s in left)
            variance = noise.sigma(list((s, 1) for s in left)) ** 2
            foreign = tuple(sorted(Counter(s.sku for s in left).items()))
            prior = k * LOG_MISPLACE
            for leaf in _search(lanes, low, high, delta_g - extra, window):
                sigma = math.sqrt(variance + leaf.spread)
                z = (delta_g - extra - leaf.grams) / sigma
                score = (
                    -0.5 * z * z - math.log(sigma) + prior + leaf.pieces * LOG_PIECE + leaf.puts * put_cost
                )
                found.append(_Local(leaf.counts, foreign, score, abs(z)))
    found.sort(key=lambda h: -h.score)
    return [h for h in found[:MAX_LOCAL] if h.score >= found[0].score - CUT]


def _strangers(channel: Channel, shelves: Sequence[Channel]) -> list[Lane]:
    """One lane per product of the door's other shelves that this shelf has no lane for."""
    own = {lane.sku for lane in channel.lanes}
    seen: dict[str, Lane] = {}
    for other in shelves:
        if other.door == channel.door and other.channel != channel.channel:
            for lane in other.lanes:
                if lane.sku not in own:
                    seen.setdefault(lane.sku, lane)
    return list(seen.values())


def _feasible(shelves: Sequence[Channel], chosen: Sequence[_Local]) -> bool:
    """Every piece left on a foreign shelf left one of its own lanes."""
    if not any(h.foreign for h in chosen):
        return True
    placed: Counter[str] = Counter()
    for h in chosen:
        placed.update(dict(h.foreign))
    if placed.total() > MAX_MOVES:
        return False
    removed: Counter[str] = Counter()
    for channel, h in zip(shelves, chosen, strict=True):
        for lane, c in zip(channel.lanes, h.counts, strict=True):
            if c < 0:
                removed[lane.sku] -= c
    return all(removed[sku] >= n for sku, n in placed.items())


def _door_hypotheses(
    locals_: Sequence[list[_Local]], shelves: Sequence[Channel]
) -> list[tuple[float, tuple[_Local, ...]]]:
    """Feasible combinations of the shelves' hypotheses within CUT of the best conceivable one."""
    best_rest = [0.0] * (len(locals_) + 1)
    for i in range(len(locals_) - 1, -1, -1):
        best_rest[i] = best_rest[i + 1] + locals_[i][0].score
    floor = best_rest[0] - CUT
    out: list[tuple[float, tuple[_Local, ...]]] = []

    def walk(i: int, partial: float, chosen: list[_Local]) -> None:
        if i == len(locals_):
            if _feasible(shelves, chosen):
                out.append((partial, tuple(chosen)))
            return
        for h in locals_[i]:  # best first: once one falls below the floor, the rest do too
            if partial + h.score + best_rest[i + 1] < floor:
                break
            chosen.append(h)
            walk(i + 1, partial + h.score, chosen)
            chosen.pop()

    walk(0, 0.0, [])
    return out


def _explain(
    shelves: Sequence[Channel], chosen: Sequence[_Local]
) -> tuple[tuple[LaneChange, ...], tuple[Move, ...]]:
    """What crossed the door per lane, and which pieces only moved to another shelf."""
    taken: dict[tuple[int, int], int] = {}
    lanes_of: dict[str, list[tuple[Channel, Lane]]] = {}
    for channel, h in zip(shelves, chosen, strict=True):
        for lane, c in zip(channel.lanes, h.counts, strict=True):
            taken[(channel.channel, lane.lane)] = c
            lanes_of.setdefault(lane.sku, []).append((channel, lane))
    moves = []
    for channel, h in zip(shelves, chosen, strict=True):
        for sku, n in h.foreign:
            for source, lane in lanes_of[sku]:  # a piece left here came out of a lane that lost some
                key = (source.channel, lane.lane)
                k = min(n, -taken[key]) if taken[key] < 0 else 0
                if k:
                    taken[key] += k
                    moves.append(Move(source.channel, lane.lane, sku, channel.channel, k))
                    n -= k
    changes = tuple(
        LaneChange(channel.channel, lane.lane, lane.sku, taken[(channel.channel, lane.lane)])
        for channel in shelves
        for lane in channel.lanes
        if taken[(channel.channel, lane.lane)]
    )
    return changes, tuple(moves)


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
    """The basket of the channels read before and after, judged together; a faulty channel (one
    without a reading included) makes the basket unsure."""
    shelves = [
        c
        for c in planogram.channels
        if c.channel not in faulty and c.channel in baseline_g and c.channel in final_g
    ]
    deltas = {c.channel: final_g[c.channel] - baseline_g[c.channel] for c in shelves}
    locals_ = [
        _local_hypotheses(c, deltas[c.channel], _strangers(c, shelves), noise=noise, mode=mode, stock=stock)
        for c in shelves
    ]
    door = _door_hypotheses(locals_, shelves) if all(locals_) else []
    broken = tuple(
        ChannelInference(
            c.channel, final_g.get(c.channel, 0.0) - baseline_g.get(c.channel, 0.0), "fault", 0.0, (), ()
        )
        for c in planogram.channels
        if c.channel in faulty
    )
    if not door:
        unexplained = tuple(
            ChannelInference(c.channel, deltas[c.channel], "unexplained", 0.0, (), ()) for c in shelves
        )
        return BasketInference(_in_order(planogram, unexplained + broken), (), 0.0, True, ())
    # "Something else" scores as nothing moved on a perfectly quiet scale, times LOG_OTHER.
    other = len(shelves) * -math.log(noise.sigma([])) + LOG_OTHER if mode == "resident" else None
    return _decide(planogram, shelves, deltas, door, broken, min_confidence, other)


def _decide(
    planogram: Planogram,
    shelves: Sequence[Channel],
    deltas: Mapping[int, float],
    door: list[tuple[float, tuple[_Local, ...]]],
    broken: tuple[ChannelInference, ...],
    min_confidence: float,
    other: float | None,
) -> BasketInference:
    door.sort(key=lambda item: -item[0])
    top = door[0][0]
    total = sum(math.exp(s - top) for s, _ in door) + (0.0 if other is None else math.exp(other - top))
    merged: dict[tuple[tuple[LaneChange, ...], tuple[Move, ...]], float] = {}
    likeliest: dict[tuple[tuple[LaneChange, ...], tuple[Move, ...]], tuple[_Local, ...]] = {}
    for s, chosen in door:  # hypotheses that charge and move the same are one candidate
        key = _explain(shelves, chosen)
        merged[key] = merged.get(key, 0.0) + math.exp(s - top) / total
        likeliest.setdefault(key, chosen)  # best first: the first seen is the likeliest reading
    ranked = sorted(merged.items(), key=lambda item: -item[1])
    candidates = tuple(Candidate(ch, p, mv) for (ch, mv), p in ranked[:MAX_CANDIDATES])
    best = candidates[0]
    best_hypothesis = likeliest[(best.changes, best.moves)]
    explained = all(h.z <= UNEXPLAINED_SIGMAS for h in best_hypothesis)
    sure = explained and best.probability >= min_confidence and not broken
    channels = []
    for i, c in enumerate(shelves):
        mine = best_hypothesis[i]
        marginal = sum(math.exp(s - top) for s, chosen in door if chosen[i] == mine) / total
        outcome: Outcome = (
            "unexplained"
            if mine.z > UNEXPLAINED_SIGMAS
            else "ok"
            if marginal >= min_confidence
            else "ambiguous"
        )
        own = tuple(x for x in best.changes if x.channel == c.channel) if outcome == "ok" else ()
        channels.append(ChannelInference(c.channel, deltas[c.channel], outcome, marginal, own, candidates))
    return BasketInference(
        _in_order(planogram, tuple(channels) + broken),
        best.changes if sure else (),
        best.probability if not broken else 0.0,
        not sure,
        candidates if not broken else (),
        best.moves if sure else (),
    )


def _in_order(planogram: Planogram, results: tuple[ChannelInference, ...]) -> tuple[ChannelInference, ...]:
    order = {c.channel: i for i, c in enumerate(planogram.channels)}
    return tuple(sorted(results, key=lambda r: order[r.channel]))


def infer_channel(
    channel: Channel,
    delta_g: float,
    *,
    noise: NoiseModel,
    mode: Mode = "resident",
    stock: Mapping[tuple[int, int], int] | None = None,
    min_confidence: float = 0.95,
) -> ChannelInference:
    """One shelf judged alone (a door with a single shelf)."""
    basket = infer_basket(
        Planogram(channels=(channel,)),
        {channel.channel: 0.0},
        {channel.channel: delta_g},
        noise=noise,
        mode=mode,
        stock=stock,
        min_confidence=min_confidence,
    )
    return basket.channels[0]
