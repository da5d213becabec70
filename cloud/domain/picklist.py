"""The pick list of a restock round (pure): what to load where, what to pull, what is short."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass, field

SAFETY = 1.2  # forecasts are wrong: keep a fifth more than expected sales


@dataclass(frozen=True)
class LaneState:
    cabinet: str
    channel: int
    lane: int
    sku: str
    count: int
    capacity: int
    par: int  # the level staff fill the lane up to
    demand: float  # expected sales until the next visit
    per_day: float
    expiring: int = 0  # pieces past or near their shelf life at the next visit (FIFO)
    pull_sku: str | None = None  # a planogram change: the old product, all of it comes out
    exposed: bool = False  # withheld by the cold chain: every piece is pulled as waste

    @property
    def days_of_cover(self) -> float:
        sellable = self.count - self.expiring
        return math.inf if self.per_day <= 0 else sellable / self.per_day


@dataclass
class LanePlan:
    channel: int
    lane: int
    sku: str
    count: int
    load: int
    pull: int
    short: int = 0  # wanted but the store does not have it
    pull_sku: str | None = None  # set when the lane changes product
    exposed: bool = False  # the pulled pieces are cold-chain waste


@dataclass
class PickList:
    picking: list[dict[str, object]]  # [{"sku", "count", "short"}] what to take from the store
    cabinets: dict[str, list[LanePlan]] = field(default_factory=dict)


def target(lane: LaneState) -> int:
    """Fill to par, or further if the lane would not last until the next visit; never past capacity."""
    return min(lane.capacity, max(lane.par, math.ceil(lane.demand * SAFETY)))


def plan(lanes: list[LaneState], store_stock: dict[str, int]) -> PickList:
    """Allocate the store's stock to lanes, those that run out soonest first."""
    left = dict(store_stock)
    plans: dict[tuple[str, int, int], LanePlan] = {}
    for lane in sorted(lanes, key=lambda s: (s.days_of_cover, s.cabinet, s.channel, s.lane)):
        wanted = max(0, target(lane) - (lane.count - lane.expiring))
        given = min(wanted, max(0, left.get(lane.sku, 0)))
        left[lane.sku] = left.get(lane.sku, 0) - given
        plans[(lane.cabinet, lane.channel, lane.lane)] = LanePlan(
            *(lane.channel, lane.lane, lane.sku, lane.count, given, lane.expiring, wanted - given),
            *(lane.pull_sku, lane.exposed),
        )
    cabinets: dict[str, list[LanePlan]] = defaultdict(list)
    for (cabinet, _, _), lane_plan in sorted(plans.items()):
        cabinets[cabinet].append(lane_plan)
    picking: dict[str, list[int]] = defaultdict(lambda: [0, 0])
    for lane_plan in plans.values():
        picking[lane_plan.sku][0] += lane_plan.load
        picking[lane_plan.sku][1] += lane_plan.short
    return PickList(
        picking=[{"sku": sku, "count": n, "short": s} for sku, (n, s) in sorted(picking.items()) if n or s],
        cabinets=dict(cabinets),
    )
