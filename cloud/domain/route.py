"""The order to visit a store's cabinets: nearest neighbour, then 2-opt (pure)."""

from __future__ import annotations

import math
from collections.abc import Sequence

Point = tuple[float, float]  # (lat, lon)
EARTH_KM = 6371.0


def km(a: Point, b: Point) -> float:
    """Great-circle distance (haversine)."""
    lat1, lon1, lat2, lon2 = map(math.radians, (*a, *b))
    h = math.sin((lat2 - lat1) / 2) ** 2 + math.cos(lat1) * math.cos(lat2) * math.sin((lon2 - lon1) / 2) ** 2
    return 2 * EARTH_KM * math.asin(math.sqrt(h))


def length(start: Point, stops: Sequence[Point], order: Sequence[int]) -> float:
    """A round trip from the store through `order` and back."""
    path = [start, *(stops[i] for i in order), start]
    return sum(km(a, b) for a, b in zip(path, path[1:], strict=False))


def plan_route(start: Point, stops: Sequence[Point]) -> tuple[list[int], float]:
    """Visit order (indexes into `stops`) and its length in km, leaving from and back to `start`."""
    order = _nearest_neighbour(start, stops)
    order = _two_opt(start, stops, order)
    return order, length(start, stops, order)


def _nearest_neighbour(start: Point, stops: Sequence[Point]) -> list[int]:
    left = set(range(len(stops)))
    order: list[int] = []
    here = start
    while left:
        nearest = min(left, key=lambda i: km(here, stops[i]))
        order.append(nearest)
        left.remove(nearest)
        here = stops[nearest]
    return order


def _two_opt(start: Point, stops: Sequence[Point], order: list[int]) -> list[int]:
    best, best_len = order, length(start, stops, order)
    improved = True
    while improved:
        improved = False
        for i in range(len(best) - 1):
            for j in range(i + 1, len(best)):
                candidate = best[:i] + best[i : j + 1][::-1] + best[j + 1 :]
                candidate_len = length(start, stops, candidate)
                if candidate_len < best_len - 1e-9:
                    best, best_len, improved = candidate, candidate_len, True
    return best
