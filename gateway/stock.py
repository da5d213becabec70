"""Pieces per lane as far as the gateway knows them: the bound on what a session can take.

Starts from the counts the cloud put in the config (when it did) and follows the gateway's own
definite results. A lane of an ambiguous session becomes unknown (its capacity bounds it again)
until the next config. A stale count is safe: too high only loosens the search; too low leaves
the truth out, and the answer that remains cannot explain the weight, so the session is flagged.
"""

from __future__ import annotations

import json
import sqlite3

from gateway.db import get_meta, set_meta
from gateway.inference import BasketInference
from protocols.mqtt.schemas import Config

LaneKey = tuple[int, int]


class StockBook:
    def __init__(self, db: sqlite3.Connection) -> None:
        self._db = db
        stored = json.loads(get_meta(db, "stock") or "{}")
        self._version: int | None = stored.get("version")
        self._counts: dict[LaneKey, int] = {(c, n): k for c, n, k in stored.get("counts", [])}

    def follow(self, config: Config | None) -> None:
        """A new config version brings the cloud's counts (or none: every lane unknown)."""
        if config is None or config.version == self._version:
            return
        self._version = config.version
        self._counts = {(s.channel, s.lane): s.count for s in config.stock}
        self._save()

    def known(self) -> dict[LaneKey, int]:
        return dict(self._counts)

    def settle(self, basket: BasketInference) -> None:
        """Count a session's answer in; forget the lanes it could not tell."""
        if basket.ambiguous:
            for channel in basket.channels:
                for key in [k for k in self._counts if k[0] == channel.channel]:
                    del self._counts[key]
        else:
            for change in basket.lanes:
                self._shift((change.channel, change.lane), change.delta)
            for move in basket.moves:  # the piece lies on another shelf now, out of its lane's reach
                self._shift((move.channel, move.lane), -move.count)
        self._save()

    def _shift(self, key: LaneKey, delta: int) -> None:
        if key in self._counts:
            self._counts[key] = max(0, self._counts[key] + delta)

    def _save(self) -> None:
        counts = [[c, n, k] for (c, n), k in sorted(self._counts.items())]
        set_meta(self._db, "stock", json.dumps({"version": self._version, "counts": counts}))
