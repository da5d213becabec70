"""The cloud's books as one document, for an auditor outside the cloud (`vendfleet cloud books`): the
chaos run reconciles them with what physically happened, without reading the cloud's tables itself."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.orm import Session as Db

from cloud.db.models import Alarm, Payment, ProcessedEvent, Product, Session, User
from cloud.domain.session_states import LIVE


def books(db: Db) -> dict[str, Any]:
    """Visits (status, amount, items), events stored, alarms by kind, prices, residents' money,
    captures per visit. Money in fen."""
    raised: Counter[str] = Counter()
    resolved: Counter[str] = Counter()
    for kind, resolved_at in db.execute(select(Alarm.kind, Alarm.resolved_at)):
        raised[kind] += 1
        resolved[kind] += resolved_at is not None
    captures = select(Payment.session_id, func.count()).where(Payment.kind == "capture")
    return {
        "visits": {
            s.id: {
                "mode": s.mode,
                "status": s.status,
                "live": s.status in LIVE,
                "amount_fen": s.amount_fen,
                "items": {str(i["sku"]): int(str(i["count"])) for i in s.items or []},
            }
            for s in db.scalars(select(Session))
        },
        "events_stored": db.scalar(select(func.count()).select_from(ProcessedEvent)) or 0,
        "alarms_raised": dict(raised),
        "alarms_resolved": dict(resolved),
        "prices_fen": {p.sku: p.price_fen for p in db.scalars(select(Product))},
        "residents": {
            u.name: {"balance_fen": u.balance_fen, "held_fen": u.held_fen}
            for u in db.scalars(select(User).where(User.role == "resident"))
        },
        "captures": dict(db.execute(captures.group_by(Payment.session_id)).tuples().all()),
    }
