"""Telemetry in SQL: the latest sample, one-minute temperature roll-ups, and the rules on them."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import ColumnElement, delete, func, or_, select, update
from sqlalchemy.orm import Session
from sqlalchemy.orm.attributes import set_committed_value

from cloud.db.bulk import among, is_postgres, upsert
from cloud.db.models import Cabinet, CabinetTelemetry, PlanogramLane, Product, TemperatureMinute
from cloud.domain import alarms, cold_chain
from cloud.domain.cabinet_settings import Resolver
from protocols.mqtt.schemas import CabinetSettings, Telemetry

ROLLUP_DAYS = 7
SILENCE_FLOOR_S = 30.0  # no cabinet's silence limit is shorter (CabinetSettings.silence_s): a healthy
# fleet reporting every 10 s never reaches the per-cabinet check below


RULE_ALARMS = frozenset({"offline", "temperature_high", "outbox_backlog"})  # what record() raises


@dataclass
class Stored:
    """What a batch of samples reads, in one query each (not one per sample): each cabinet's latest
    warm_since, the cabinets holding chilled goods, the open alarms its rules raise and resolve, each
    cabinet's effective settings (validated once per store and overrides, not per sample)."""

    warm_since: dict[int, datetime | None]
    offline: set[int]  # senders marked offline until this batch
    chilled: set[int]
    open_alarms: alarms.OpenAlarms
    rules: Resolver

    @classmethod
    def load(cls, db: Session, samples: list[tuple[Cabinet, Telemetry]]) -> Stored:
        ids = {cabinet.id for cabinet, _ in samples}
        latest = db.execute(
            select(CabinetTelemetry.cabinet_id, CabinetTelemetry.warm_since).where(
                among(db, CabinetTelemetry.cabinet_id, ids)
            )
        )
        chilled = db.scalars(
            select(PlanogramLane.cabinet_id)
            .join(Product)
            .where(among(db, PlanogramLane.cabinet_id, ids), Product.chilled)
            .distinct()
        )
        cold_chain.read_guarded_lanes(db, ids)
        return cls(
            offline={cabinet.id for cabinet, _ in samples if not cabinet.online},
            warm_since={cabinet_id: since for cabinet_id, since in latest},
            chilled=set(chilled),
            open_alarms=alarms.OpenAlarms.load(db, ids, RULE_ALARMS),
            rules=Resolver(db),
        )


def record_many(db: Session, samples: list[tuple[Cabinet, Telemetry]]) -> None:
    """A batch of samples: rule inputs read once; the latest rows and the roll-ups written by one
    upsert statement each (ORM objects per sample were most of ingest's time)."""
    if not samples:
        return
    stored = Stored.load(db, samples)
    now = datetime.now(UTC)
    _mark_seen(db, [cabinet for cabinet, _ in samples], now)
    seen: set[int] = set()
    latest: dict[int, Telemetry] = {}
    # A rule's query of a cabinet's own rows (cold chain) needs the session flushed only before that
    # cabinet's second sample, not before every query.
    with db.no_autoflush:
        for cabinet, sample in samples:
            if cabinet.id in seen:
                db.flush()
                seen.clear()
            seen.add(cabinet.id)
            _judge(db, cabinet, sample, stored)
            latest[cabinet.id] = sample
    _upsert_latest(db, latest, stored.warm_since, now)
    _upsert_minutes(db, _fold(samples))


def record(db: Session, cabinet: Cabinet, sample: Telemetry) -> None:
    """Keep the sample and judge it by the cabinet's own alarm settings."""
    record_many(db, [(cabinet, sample)])


def _judge(db: Session, cabinet: Cabinet, sample: Telemetry, stored: Stored) -> None:
    rules = stored.rules.of(cabinet)
    if cabinet.id in stored.offline:
        alarms.resolve(db, cabinet, "offline", known=stored.open_alarms)
    _temperature_rule(db, cabinet, sample, rules, stored)
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


def _mark_seen(db: Session, cabinets: list[Cabinet], now: datetime) -> None:
    """The senders are online, last seen now: one UPDATE, not one per cabinet. Locked first in id order,
    the order the event path locks them in, so two workers cannot deadlock on a pair of cabinets."""
    ids = sorted({cabinet.id for cabinet in cabinets})
    db.execute(select(Cabinet.id).where(among(db, Cabinet.id, ids)).order_by(Cabinet.id).with_for_update())
    seen = update(Cabinet).where(among(db, Cabinet.id, ids)).values(last_seen=now, online=True)
    db.execute(seen, execution_options={"synchronize_session": False})
    for cabinet in cabinets:  # the loaded objects say what the row says, with nothing left to flush
        set_committed_value(cabinet, "last_seen", now)
        set_committed_value(cabinet, "online", True)


def _minute(sample: Telemetry) -> datetime:
    return sample.ts.replace(second=0, microsecond=0)


@dataclass
class _Minute:
    """A probe's minute as this batch saw it; folded in Python first, since one upsert statement may
    not touch the same row twice."""

    min_c: float
    max_c: float
    sum_c: float
    samples: int
    door_open: bool

    def add(self, value: float, door_open: bool) -> None:
        self.min_c, self.max_c = min(self.min_c, value), max(self.max_c, value)
        self.sum_c += value
        self.samples += 1
        self.door_open = self.door_open or door_open


def _fold(samples: list[tuple[Cabinet, Telemetry]]) -> dict[tuple[int, int, datetime], _Minute]:
    minutes: dict[tuple[int, int, datetime], _Minute] = {}
    for cabinet, sample in samples:
        minute = _minute(sample)
        door_open = any(d.open for d in sample.doors)
        for probe, value in enumerate(sample.temperatures_c):
            if value is None:
                continue
            key = (cabinet.id, probe, minute)
            if key in minutes:
                minutes[key].add(value, door_open)
            else:
                minutes[key] = _Minute(value, value, value, 1, door_open)
    return minutes


def _upsert_minutes(db: Session, minutes: dict[tuple[int, int, datetime], _Minute]) -> None:
    """Each minute's row created, or widened by this batch's readings (min, max, sum, count, door)."""
    table = TemperatureMinute.__table__
    least, greatest = (func.least, func.greatest) if is_postgres(db) else (func.min, func.max)

    def widened(new: Any) -> dict[str, ColumnElement[Any]]:
        return {
            "min_c": least(table.c.min_c, new.min_c),
            "max_c": greatest(table.c.max_c, new.max_c),
            "sum_c": table.c.sum_c + new.sum_c,
            "samples": table.c.samples + new.samples,
            "door_open": or_(table.c.door_open, new.door_open),
        }

    rows = [
        {"cabinet_id": cabinet_id, "probe": probe, "minute": minute, **vars(m)}
        for (cabinet_id, probe, minute), m in sorted(minutes.items())
    ]
    upsert(db, TemperatureMinute, ["cabinet_id", "probe", "minute"], rows, widened)


def _upsert_latest(
    db: Session, latest: dict[int, Telemetry], warm_since: dict[int, datetime | None], now: datetime
) -> None:
    """Each cabinet's latest row: its last sample of the batch and the temperature rule's warm_since."""
    rows = [
        {
            "cabinet_id": cabinet_id,
            "received_at": now,
            "payload": sample.model_dump(mode="json"),
            "warm_since": warm_since.get(cabinet_id),
        }
        for cabinet_id, sample in sorted(latest.items())
    ]

    def replaced(new: Any) -> dict[str, ColumnElement[Any]]:
        return {name: new[name] for name in ("received_at", "payload", "warm_since")}

    upsert(db, CabinetTelemetry, ["cabinet_id"], rows, replaced)


def _temperature_rule(
    db: Session, cabinet: Cabinet, sample: Telemetry, t: CabinetSettings, stored: Stored
) -> None:
    readings = [v for v in sample.temperatures_c if v is not None]
    if not readings or cabinet.id not in stored.chilled:
        return
    warmest = max(readings)
    if warmest <= t.chilled_max_c:
        stored.warm_since[cabinet.id] = None
        alarms.resolve(db, cabinet, "temperature_high", known=stored.open_alarms)
        return
    since = stored.warm_since[cabinet.id] = stored.warm_since.get(cabinet.id) or sample.ts
    if sample.ts - since >= timedelta(seconds=t.warm_grace_s):
        alarms.raise_alarm(
            db,
            cabinet,
            "temperature_high",
            known=stored.open_alarms,
            detail=f"{warmest:.1f} °C above {t.chilled_max_c:.1f} °C since {since:%H:%M} UTC",
            evidence={"temperatures_c": sample.temperatures_c, "warm_since": since.isoformat()},
            params={"temperature_c": warmest, "max_c": t.chilled_max_c, "since": f"{since:%FT%TZ}"},
        )


def holds_chilled(db: Session, cabinet: Cabinet) -> bool:
    found = db.scalar(
        select(PlanogramLane.id).join(Product).where(PlanogramLane.cabinet_id == cabinet.id, Product.chilled)
    )
    return found is not None


def sweep(db: Session) -> None:
    """Cabinets gone silent (each by its own silence limit) are offline; old roll-ups go.

    Between two samples a minute apart half a city's cabinets are past the floor at every sweep: they
    are read as plain rows and judged by settings shared per store and overrides; only the silent
    ones are loaded whole (one settings look-up each made a 10,000-cabinet worker stall for seconds)."""
    now = datetime.now(UTC)
    rules = Resolver(db)
    quiet = select(Cabinet.id, Cabinet.store_id, Cabinet.settings, Cabinet.last_seen).where(
        Cabinet.online, Cabinet.last_seen < now - timedelta(seconds=SILENCE_FLOOR_S)
    )
    for cabinet_id, store_id, overrides, last_seen in db.execute(quiet).all():
        settings = rules.known(store_id, overrides)
        if settings is None or last_seen < now - timedelta(seconds=settings.silence_s):
            _silent(db, db.get_one(Cabinet, cabinet_id), rules, now)
    db.execute(delete(TemperatureMinute).where(TemperatureMinute.minute < now - timedelta(days=ROLLUP_DAYS)))


def _silent(db: Session, cabinet: Cabinet, rules: Resolver, now: datetime) -> None:
    silence = rules.of(cabinet).silence_s
    assert cabinet.last_seen is not None
    if cabinet.last_seen < now - timedelta(seconds=silence):
        cabinet.online = False
        silence_s = int(silence)
        detail, params = f"no telemetry for {silence_s} s", {"silence_s": silence_s}
        alarms.raise_alarm(db, cabinet, "offline", detail=detail, params=params)
