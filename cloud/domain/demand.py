"""Sales velocity per lane from the ledger: recent days weigh more, and the hour of day matters."""

from __future__ import annotations

import math
from collections import defaultdict
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import select
from sqlalchemy.orm import Session

from cloud.db.models import StockMovement

HISTORY_DAYS = 14
HALF_LIFE_DAYS = 3.0

LaneKey = tuple[int, int, int]  # cabinet id, channel, lane


@dataclass(frozen=True)
class Demand:
    per_day: float  # recency-weighted sales per day
    hourly: tuple[float, ...]  # share of a day's sales in each UTC hour (sums to 1)

    def until(self, now: datetime, then: datetime) -> float:
        """Expected sales between now and then, following the lane's hour-of-day profile."""
        total, t = 0.0, now
        while t < then:
            step = min(then, (t + timedelta(hours=1)).replace(minute=0, second=0, microsecond=0))
            total += self.per_day * self.hourly[t.hour] * (step - t) / timedelta(hours=1)
            t = step
        return total


FLAT = tuple([1 / 24] * 24)


def lane_demand(db: Session, cabinet_ids: list[int], now: datetime) -> dict[LaneKey, Demand]:
    since = now - timedelta(days=HISTORY_DAYS)
    sales = db.execute(
        select(
            StockMovement.cabinet_id,
            StockMovement.channel,
            StockMovement.lane,
            StockMovement.delta,
            StockMovement.created_at,
        ).where(
            StockMovement.kind == "sale",
            StockMovement.cabinet_id.in_(cabinet_ids),
            StockMovement.created_at >= since,
        )
    )
    weighted: dict[LaneKey, float] = defaultdict(float)
    by_hour: dict[LaneKey, list[float]] = defaultdict(lambda: [0.0] * 24)
    for cabinet_id, channel, lane, delta, at in sales:
        key = (cabinet_id, channel, lane)
        age_days = (now - at).total_seconds() / 86400
        weight = math.exp(-math.log(2) * age_days / HALF_LIFE_DAYS)
        weighted[key] += -delta * weight
        by_hour[key][at.hour] += -delta
    # Normalise the weights as if every one of the history days had weight like its age.
    norm = sum(math.exp(-math.log(2) * (d + 0.5) / HALF_LIFE_DAYS) for d in range(HISTORY_DAYS))
    return {key: Demand(weighted[key] / norm, _profile(by_hour[key])) for key in weighted}


def _profile(hours: list[float]) -> tuple[float, ...]:
    total = sum(hours)
    if total < 10:  # too little data: a flat day, mixed with what there is
        return tuple((h + 10 / 24) / (total + 10) for h in hours)
    return tuple(h / total for h in hours)
