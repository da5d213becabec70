"""Telemetry in SQL: the latest sample, one-minute temperature roll-ups, and the rules on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import delete, select
from sqlalchemy.orm import Session

from cloud.db.models import Cabinet, CabinetTelemetry, PlanogramLane, Product, TemperatureMinute
from cloud.domain import alarms
from protocols.mqtt.schemas import Telemetry

ROLLUP_DAYS = 7


@dataclass(frozen=True)
class Thresholds:
    chilled_max_c: float = 8.0  # chilled goods above this are at risk
    grace: timedelta = timedelta(minutes=10)  # how long they may be warm before an alarm
    outbox_backlog: int = 100  # events waiting on a gateway
    silence: timedelta = timedelta(seconds=60)  # no telemetry for this long: offline


def record(db: Session, cabinet: Cabinet, sample: Telemetry, thresholds: Thresholds) -> None:
    now = datetime.now(UTC)
    cabinet.last_seen = now
    if not cabinet.online:
        cabinet.online = True
        alarms.resolve(db, cabinet, "offline")
    latest = db.get(CabinetTelemetry, cabinet.id)
    if latest is None:
        latest = CabinetTelemetry(cabinet_id=cabinet.id, received_at=now, payload={})
        db.add(latest)
    latest.received_at, latest.payload = now, sample.model_dump(mode="json")
    _roll_up(db, cabinet, sample)
    _temperature_rule(db, cabinet, latest, sample, thresholds)
    alarms.set_alarm(
        db,
        cabinet,
        sample.outbox_depth > thresholds.outbox_backlog,
        "outbox_backlog",
        detail=f"{sample.outbox_depth} events waiting on the gateway",
        params={"events": sample.outbox_depth},
    )


def _roll_up(db: Session, cabinet: Cabinet, sample: Telemetry) -> None:
    minute = sample.ts.replace(second=0, microsecond=0)
    door_open = any(d.open for d in sample.doors)
    for probe, value in enumerate(sample.temperatures_c):
        if value is None:
            continue
        row = db.scalar(
            select(TemperatureMinute).where(
                TemperatureMinute.cabinet_id == cabinet.id,
                TemperatureMinute.probe == probe,
                TemperatureMinute.minute == minute,
            )
        )
        if row is None:
            db.add(
                TemperatureMinute(
                    cabinet_id=cabinet.id,
                    probe=probe,
                    minute=minute,
                    min_c=value,
                    max_c=value,
                    sum_c=value,
                    samples=1,
                    door_open=door_open,
                )
            )
        else:
            row.min_c, row.max_c = min(row.min_c, value), max(row.max_c, value)
            row.sum_c, row.samples, row.door_open = (
                row.sum_c + value,
                row.samples + 1,
                row.door_open or door_open,
            )


def _temperature_rule(
    db: Session, cabinet: Cabinet, latest: CabinetTelemetry, sample: Telemetry, t: Thresholds
) -> None:
    readings = [v for v in sample.temperatures_c if v is not None]
    if not readings or not holds_chilled(db, cabinet):
        return
    warmest = max(readings)
    if warmest <= t.chilled_max_c:
        latest.warm_since = None
        alarms.resolve(db, cabinet, "temperature_high")
        return
    latest.warm_since = latest.warm_since or sample.ts
    if sample.ts - latest.warm_since >= t.grace:
        alarms.raise_alarm(
            db,
            cabinet,
            "temperature_high",
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


def sweep(db: Session, thresholds: Thresholds) -> None:
    """Cabinets gone silent are offline; old roll-ups go."""
    now = datetime.now(UTC)
    silent = db.scalars(select(Cabinet).where(Cabinet.online, Cabinet.last_seen < now - thresholds.silence))
    for cabinet in silent:
        cabinet.online = False
        silence_s = int(thresholds.silence.total_seconds())
        alarms.raise_alarm(
            db, cabinet, "offline", detail=f"no telemetry for {silence_s} s", params={"silence_s": silence_s}
        )
    db.execute(delete(TemperatureMinute).where(TemperatureMinute.minute < now - timedelta(days=ROLLUP_DAYS)))
