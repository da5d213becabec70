"""Rate limits on sign-in: moving windows per phone, per user name, per client address, overall.

A refused attempt is refused before anything is evaluated (no database, no hash), so a flood
costs little. The counts live in a `limits` storage: memory, or Redis shared by API processes.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass
from functools import cache

from limits import RateLimitItem, parse_many
from limits.storage import storage_from_string
from limits.strategies import MovingWindowRateLimiter

from cloud import CloudError


class Throttled(CloudError):
    """Too many attempts; the next may succeed after `retry_after_s` (whole seconds)."""

    def __init__(self, reason: str, retry_after_s: float) -> None:
        self.retry_after_s = max(1, math.ceil(retry_after_s))
        super().__init__(
            f"{reason}: try again in {self.retry_after_s} s",
            code="throttled",
            retry_after_s=self.retry_after_s,
        )


@dataclass(frozen=True)
class Limit:
    """At most `rates` (e.g. "3/minute;10/hour") attempts of the kind `what` for one `key`."""

    what: str  # also names the counter: "code requests for this phone number"
    rates: str
    key: str


class Throttle:
    def __init__(self, storage_uri: str) -> None:
        self._limiter = MovingWindowRateLimiter(storage_from_string(storage_uri))

    def hit(self, *limits: Limit) -> None:
        """Count one attempt against every limit, or raise Throttled if any is used up."""
        checks = [(item, (limit.what, limit.key)) for limit in limits for item in _items(limit.rates)]
        used_up = [(item, ids) for item, ids in checks if not self._limiter.test(item, *ids)]
        if not used_up:
            # A parallel attempt may take the last place between test and hit.
            used_up = [(item, ids) for item, ids in checks if not self._limiter.hit(item, *ids)]
        if used_up:
            raise self._refusal(used_up)

    def _refusal(self, used_up: list[tuple[RateLimitItem, tuple[str, str]]]) -> Throttled:
        """Name the limit that frees up last: retrying any earlier would only be refused again."""
        wait, what = max(
            (self._limiter.get_window_stats(item, *ids).reset_time - time.time(), ids[0])
            for item, ids in used_up
        )
        return Throttled(f"too many {what}", wait)


@cache
def _items(rates: str) -> list[RateLimitItem]:
    return parse_many(rates)
