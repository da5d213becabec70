from __future__ import annotations

from typing import Any

from fastapi import APIRouter
from fastapi.responses import JSONResponse
from sqlalchemy import text

from cloud.api.deps import ContextDep, SessionDep

router = APIRouter(tags=["health"])


@router.get("/healthz", responses={503: {"description": "a worker of this process is dead"}})
def healthz(db: SessionDep, context: ContextDep) -> Any:
    """200 when the database answers and every ingest worker of this process is alive, else 503."""
    db.execute(text("SELECT 1"))
    workers = {w.name: "alive" if w.alive() else "dead" for w in context.workers}
    if "dead" in workers.values():
        return JSONResponse({"status": "degraded", "ingest": workers}, status_code=503)
    return {"status": "ok", "ingest": workers} if workers else {"status": "ok"}
