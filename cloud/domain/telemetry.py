"""Telemetry in SQL: the latest sample, one-minute temperature roll-ups, and the rules on them."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session, joinedload

from cloud.db.models import Cabinet, CabinetTelemetry, PlanogramLane, Product, TemperatureMinute
from cloud.domain import alarms, cold_chain
from cloud.domain.cabinet_settings import effective_settings
from protocols.mqtt.schemas import CabinetSettings, Telemetry

ROLLUP_DAYS = 7
SILENCE_FLOOR_S = 30.0  # no cabinet's silence limit is shorter (CabinetSettings.silence_s): a healthy
# fleet reporting every 10 s never reaches the per-cabinet check below


RULE_ALARMS = frozenset({"offline", "temperature_high", "outbox_backlog"})  # what record() raises


@dataclass
class Stored:
    """What a batch of samples reads, in one query each (not one per sample): the rows it writes to,
    the cabinets holding chilled goods, the open alarms its rules raise and resolve, each cabinet's
    effective settings (validated once per cabinet, not per sample)."""

    latest: dict[int, CabinetTelemetry] = field(default_factory=dict)
    minutes: dict[tuple[int, int, datetime], TemperatureMinute] = field(default_factory=dict)
    chilled: set[int] = field(default_factory=set)
    open_alarms: alarms.OpenAlarms = field(default_factory=lambda: alarms.OpenAlarms(frozenset(), {}))
    rules: dict[int, CabinetSettings] = field(default_factory=dict)

    @classmethod
    def load(cls, db: Session, samples: list[tuple[Cabinet, Telemetry]]) -> Stored:
        ids = {cabinet.id for cabinet, _ in samples}
        minutes = {_minute(sample) for _, sample in samples}
        rows = db.scalars(
            select(TemperatureMinute).where(
                TemperatureMinute.cabinet_id.in_(ids), TemperatureMinute.minute.in_(minutes)
            )
        )
        latest = db.scalars(select(CabinetTelemetry).where(CabinetTelemetry.cabinet_id.in_(ids)))
        chilled = db.scalars(
            select(PlanogramLane.cabinet_id)
            .join(Product)
            .where(PlanogramLane.cabinet_id.in_(ids), Product.chilled)
            .distinct()
        )
        return cls(
            latest={row.cabinet_id: row for row in latest},
            minutes={(r.cabinet_id, r.probe, r.minute): r for r in rows},
            chilled=set(chilled),
            open_alarms=alarms.OpenAlarms.load(db, ids, RULE_ALARMS),
        )

    def rules_of(self, db: Session, cabinet: Cabinet) -> CabinetSettings:
        if cabinet.id not in self.rules:
            self.rules[cabinet.id] = effective_settings(db, cabinet)
        return self.rules[cabinet.id]


def record_many(db: Session, samples: list[tuple[Cabinet, Telemetry]]) -> None:
    """A batch of samples: existing rows read once, new and changed ones written in one flush."""
    stored = Stored.load(db, samples)
    seen: set[int] = set()
    # The rules read what they need from `stored`; a query of a cabinet's own rows (if one is added)
    # needs the session flushed only before its second sample, not before every query.
    with db.no_autoflush:
        for cabinet, sample in samples:
            if cabinet.id in seen:
                db.flush()
                seen.clear()
            seen.add(cabinet.id)
            record(db, cabinet, sample, stored)


def record(db: Session, cabinet: Cabinet, sample: Telemetry, stored: Stored | None = None) -> None:
    """Keep the sample and judge it by the cabinet's own alarm settings."""
    stored = stored or Stored.load(db, [(cabinet, sample)])
    now = datetime.now(UTC)
    rules = stored.rules_of(db, cabinet)
    cabinet.last_seen = now
    if not cabinet.online:
        cabinet.online = True
        alarms.resolve(db, cabinet, "offline", known=stored.open_alarms)
    latest = stored.latest.get(cabinet.id)
    if latest is None:
        latest = CabinetTelemetry(cabinet_id=cabinet.id, received_at=now, payload={})
        stored.latest[cabinet.id] = latest
        db.add(latest)
    latest.received_at, latest.payload = now, sample.model_dump(mode="json")
    _roll_up(db, cabinet, sample, stored)
    _temperature_rule(db, cabinet, latest, sample, rules, stored)
    cold_chain.observe(db, cabinet, sample, rules)
    alarms.set_alarm(
        db,
        cabinet,
        sample.outbox_depth > rules.outbox_backlog,
        "outbox_backlog",
        known=stored.open_alarms,
        detail=f"{sample.outbox_depth} events waiting on the gateway",
        params={"events": sample.outbox_depth},
    )


def _minute(sample: Telemetry) -> datetime:
    return sample.ts.replace(second=0, microsecond=0)


def _roll_up(db: Session, cabinet: Cabinet, sample: Telemetry, stored: Stored) -> None:
    minute = _minute(sample)
    door_open = any(d.open for d in sample.doors)
    for probe, value in enumerate(sample.temperatures_c):
        if value is None:
            continue
        row = stored.minutes.get((cabinet.id, probe, minute))
        if row is None:
            stored.minutes[cabinet.id, probe, minute] = row = TemperatureMinute(
                cabinet_id=cabinet.id,
                probe=probe,
                minute=minute,
                min_c=value,
                max_c=value,
                sum_c=value,
                samples=1,
                door_open=door_open,
            )
            db.add(row)
        else:
            row.min_c, row.max_c = min(row.min_c, value), max(row.max_c, value)
            row.sum_c, row.samples, row.door_open = (
                row.sum_c + value,
                row.samples + 1,
                row.door_open or door_open,
            )


def _temperature_rule(
    db: Session,
    cabinet: Cabinet,
    latest: CabinetTelemetry,
    sample: Telemetry,
    t: CabinetSettings,
    stored: Stored,
) -> None:
    readings = [v for v in sample.temperatures_c if v is not None]
    if not readings or cabinet.id not in stored.chilled:
        return
    warmest = max(readings)
    if warmest <= t.chilled_max_c:
        latest.warm_since = None
        alarms.resolve(db, cabinet, "temperature_high", known=stored.open_alarms)
        return
    latest.warm_since = latest.warm_since or sample.ts
    if sample.ts - latest.warm_since >= timedelta(seconds=t.warm_grace_s):
        alarms.raise_alarm(
            db,
            cabinet,
            "temperature_high",
            known=stored.open_alarms,
            detail=f"{warmest:.1f} °C above {t.chilled_max_c:.1f} °C since {latest.warm_since:%H:%M} UTC",
            evidence={"temperatures_c": sample.temperatures_c, "warm_since": latest.warm_since.isoformat()},
            params={
                "temperature_c": warmest, "max_c": t.chilled_max_c,
                "since": f"{latest.warm_since:%FT%TZ}",
            },
        )


def holds_chilled(db: Session, cabinet: Cabinet) -> bool:
    found = db.scalar(
        select(PlanogramLane.id).join(Product).where(PlanogramLane.cabinet_id == cabinet.id, Product.chilled)
    )
    return found is not None


def sweep(db: Session) -> None:
    """Cabinets gone silent (each by its own silence limit) are offline; old roll-ups go."""
    now = datetime.now(UTC)
    quiet = select(Cabinet).options(joinedload(Cabinet.store))
    quiet = quiet.where(Cabinet.online, Cabinet.last_seen < now - timedelta(seconds=SILENCE_FLOOR_S))
    for cabinet in db.scalars(quiet):
        silence = effective_settings(db, cabinet).silence_s
        assert cabinet.last_seen is not None
        if cabinet.last_seen < now - timedelta(seconds=silence):
            cabinet.online = False
            silence_s = int(silence)
            detail, params = f"no telemetry for {silence_s} s", {"silence_s": silence_s}
            alarms.raise_alarm(db, cabinet, "offline", detail=detail, params=params)
    db.execute(delete(TemperatureMinute).where(TemperatureMinute.minute < now - timedelta(days=ROLLUP_DAYS)))
