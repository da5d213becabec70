"""The unlock benchmark's floor endpoint: FastAPI committing one row on the database in $VF_BENCH_DB,
served by uvicorn in its own process, as the cloud is."""

from __future__ import annotations

import os

from fastapi import FastAPI
from sqlalchemy import text

from cloud.db.engine import make_engine, session_factory, transaction

engine = make_engine(os.environ["VF_BENCH_DB"])
with engine.begin() as db:
    db.execute(text("CREATE TABLE IF NOT EXISTS bench_rows (id SERIAL PRIMARY KEY, at TIMESTAMPTZ)"))
factory = session_factory(engine)
app = FastAPI()


@app.post("/row")
def row() -> dict[str, bool]:
    with transaction(factory) as db:
        db.execute(text("INSERT INTO bench_rows (at) VALUES (now())"))
    return {"ok": True}
