"""`vendfleet cloud ingest` that kills itself (SIGKILL) at a chosen point of a batch of events.

    python -m tests.cloud.crashing_ingest POINT MARKER -- <cloud ingest options>

POINT is `before_commit` (the batch's SQL has run, nothing is committed) or `before_evack` (committed,
no evack published yet). The first batch of several events with a session result among them dies
there; MARKER gets its size first, so a test knows the kill happened where it meant it to.
"""

from __future__ import annotations

import os
import signal
import sys
from pathlib import Path
from typing import Any

from sqlalchemy.orm import Session

from cloud.cli import app
from cloud.ingest.worker import Batch, IngestWorker


def _charges(batch: Batch) -> bool:
    """A batch of several events with a charge among them: the case that must stay exactly-once."""
    return len(batch.events) > 1 and any(e.kind == "session_result" for _, e in batch.events)


def _die(marker: Path, batch: Batch) -> None:
    marker.write_text(str(len(batch.events)))
    os.kill(os.getpid(), signal.SIGKILL)


def arm(point: str, marker: Path) -> None:
    apply, after_commit = IngestWorker._apply, IngestWorker._after_commit

    def apply_then_die(self: IngestWorker, db: Session, batch: Batch) -> Any:
        apply(self, db, batch)
        if point == "before_commit" and _charges(batch):
            db.flush()  # every statement of the batch sent; only the COMMIT is missing
            _die(marker, batch)

    def die_before_evack(self: IngestWorker, batch: Batch) -> Any:
        if point == "before_evack" and _charges(batch):
            _die(marker, batch)
        return after_commit(self, batch)

    IngestWorker._apply = apply_then_die  # type: ignore[method-assign]
    IngestWorker._after_commit = die_before_evack  # type: ignore[method-assign]


if __name__ == "__main__":
    point, marker, _, *options = sys.argv[1:]
    assert point in ("before_commit", "before_evack"), point
    arm(point, Path(marker))
    app(["ingest", *options], prog_name="vendfleet cloud")
