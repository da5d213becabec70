"""A restock visit checked against its plan: the pick list's loads are the first hypothesis, tested
against what each shelf's load cell measured, with the same noise model the gateway infers with.

Per lane: planned, detected (the gateway's own inference) and a verdict. `match`: the plan explains the
shelf's weight change; the staff page may pre-fill the plan. `mismatch`: it does not; the staff member
must count. `cannot_tell`: too close to call, or no usable reading; count as well.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any, Literal

from sqlalchemy import select
from sqlalchemy.orm import Session as Db

from cloud.db.models import Product
from cloud.domain.picklist import LanePlan
from protocols.mqtt.schemas import SessionResult
from protocols.planogram_lint import NoiseModel

Verdict = Literal["match", "mismatch", "cannot_tell"]
EXPLAINED_SIGMAS = 3.0  # the plan is this close to the measured change: it explains it
REFUTED_SIGMAS = 4.0  # this far: it does not (between the two: cannot tell)
NOISE = NoiseModel()


def planned(lanes: list[LanePlan]) -> list[dict[str, Any]]:
    """What the visit was sent to do, as stored on the session when its door opened."""
    return [
        {
            "channel": p.channel,
            "lane": p.lane,
            "sku": p.sku,
            "load": p.load,
            "pull": p.pull,
            "pull_sku": p.pull_sku,
            "exposed": p.exposed,
        }
        for p in lanes
        if p.load or p.pull
    ]


def verdicts(db: Db, plan: list[dict[str, Any]], result: SessionResult) -> list[dict[str, Any]]:
    """Per lane of the plan or of the detection: planned, detected, verdict (the channel's)."""
    weights = _weights(db, plan, result)
    measured = {c.channel: c for c in result.channels}
    detected = {(d.channel, d.lane): d.delta for d in result.lanes}
    by_channel: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for lane in plan:
        by_channel[lane["channel"]].append(lane)
    lanes = {(p["channel"], p["lane"]): p for p in plan}
    for d in result.lanes:  # a lane loaded without a plan is shown (and judged) too
        unplanned = {
            "channel": d.channel,
            "lane": d.lane,
            "sku": d.sku,
            "load": 0,
            "pull": 0,
            "pull_sku": None,
        }
        lanes.setdefault((d.channel, d.lane), unplanned)
    rows = []
    for (channel, lane_no), lane in sorted(lanes.items()):
        verdict = _verdict(by_channel[channel], measured.get(channel), weights)
        rows.append(
            {
                "channel": channel,
                "lane": lane_no,
                "sku": lane["sku"],
                "planned": lane["load"] - (lane["pull"] if not lane["pull_sku"] else 0),
                "pulled": lane["pull"] if lane["pull_sku"] else 0,
                "detected": detected.get((channel, lane_no)),
                "verdict": verdict,
            }
        )
    return rows


def _verdict(plan: list[dict[str, Any]], measured: Any, weights: dict[str, tuple[float, float]]) -> Verdict:
    if measured is None or measured.outcome == "fault":
        return "cannot_tell"
    expected, variance = 0.0, 2 * NOISE.sensor_sigma_g**2 + NOISE.drift_g**2
    for lane in plan:
        for sku, pieces in ((lane["sku"], lane["load"]), (lane["pull_sku"] or lane["sku"], -lane["pull"])):
            grams, tolerance = weights[sku]
            expected += pieces * grams
            variance += abs(pieces) * (tolerance / 2) ** 2
    z = abs(measured.delta_g - expected) / variance**0.5
    return "match" if z <= EXPLAINED_SIGMAS else "mismatch" if z > REFUTED_SIGMAS else "cannot_tell"


def _weights(db: Db, plan: list[dict[str, Any]], result: SessionResult) -> dict[str, tuple[float, float]]:
    skus = (
        {p["sku"] for p in plan}
        | {p["pull_sku"] for p in plan if p["pull_sku"]}
        | {d.sku for d in result.lanes}
    )
    products = db.scalars(select(Product).where(Product.sku.in_(skus)))
    return {p.sku: (p.unit_weight_g, p.tolerance_g) for p in products}
