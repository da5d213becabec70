"""The domain model (DESIGN §5) as SQLAlchemy 2 mapped classes."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from sqlalchemy import (
    JSON,
    BigInteger,
    Boolean,
    Float,
    ForeignKey,
    Index,
    Integer,
    String,
    Text,
    UniqueConstraint,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column, relationship

from cloud.db.types import UtcDateTime


def utcnow() -> datetime:
    return datetime.now(UTC)


class Base(DeclarativeBase):
    pass


class Store(Base):
    __tablename__ = "stores"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(32), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # overrides for its cabinets
    cabinets: Mapped[list[Cabinet]] = relationship(back_populates="store")


class Cabinet(Base):
    __tablename__ = "cabinets"
    id: Mapped[int] = mapped_column(primary_key=True)
    code: Mapped[str] = mapped_column(String(64), unique=True)  # in the QR and the MQTT topics
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    name: Mapped[str] = mapped_column(String(128))
    layout: Mapped[str] = mapped_column(String(64))
    lat: Mapped[float] = mapped_column(Float)
    lon: Mapped[float] = mapped_column(Float)
    state: Mapped[str] = mapped_column(String(16), default="active")  # active | maintenance
    online: Mapped[bool] = mapped_column(Boolean, default=False)
    last_seen: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    # Highest event seq such that every seq up to it is stored (what evack says).
    acked_seq: Mapped[int] = mapped_column(BigInteger, default=0)
    config_version: Mapped[int] = mapped_column(Integer, default=0)  # the newest config we signed
    config_applied: Mapped[int | None] = mapped_column(Integer, nullable=True)  # what the gateway reports
    settings: Mapped[dict[str, Any]] = mapped_column(JSON, default=dict)  # overrides for this cabinet
    store: Mapped[Store] = relationship(back_populates="cabinets")


class FleetSettings(Base):
    """The fleet defaults in force (one row): what the cloud's own settings say, written at its start."""

    __tablename__ = "fleet_settings"
    id: Mapped[int] = mapped_column(primary_key=True)
    values: Mapped[dict[str, Any]] = mapped_column(JSON)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Product(Base):
    __tablename__ = "products"
    id: Mapped[int] = mapped_column(primary_key=True)
    sku: Mapped[str] = mapped_column(String(64), unique=True)
    name_zh: Mapped[str] = mapped_column(String(128))
    name_en: Mapped[str] = mapped_column(String(128))
    price_fen: Mapped[int] = mapped_column(Integer)
    unit_weight_g: Mapped[float] = mapped_column(Float)
    tolerance_g: Mapped[float] = mapped_column(Float)
    chilled: Mapped[bool] = mapped_column(Boolean, default=False)
    storage: Mapped[str] = mapped_column(String(16), default="ambient")  # chilled | frozen | ambient
    shelf_life_days: Mapped[int] = mapped_column(Integer, default=365)


class PlanogramLane(Base):
    """One lane of the cabinet's current planogram (version on the cabinet)."""

    __tablename__ = "planogram_lanes"
    __table_args__ = (UniqueConstraint("cabinet_id", "channel", "lane"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    door: Mapped[int] = mapped_column(Integer, default=0)
    lane: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    capacity: Mapped[int] = mapped_column(Integer)
    par_level: Mapped[int] = mapped_column(Integer)
    product: Mapped[Product] = relationship()


class StockMovement(Base):
    """Append-only ledger; current stock per lane is derived from it."""

    __tablename__ = "stock_movements"
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    lane: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    delta: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))  # sale | restock_load | removal | adjustment | transfer
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    event_id: Mapped[str | None] = mapped_column(String(36), nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class LaneStock(Base):
    """Materialised sum of the ledger per lane (reconcilable: cloud.domain.ledger.reconcile)."""

    __tablename__ = "lane_stock"
    __table_args__ = (UniqueConstraint("cabinet_id", "channel", "lane"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    lane: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class User(Base):
    __tablename__ = "users"
    id: Mapped[int] = mapped_column(primary_key=True)
    name: Mapped[str] = mapped_column(String(64), unique=True)
    phone: Mapped[str | None] = mapped_column(String(32), unique=True, nullable=True)
    role: Mapped[str] = mapped_column(String(16))  # resident | staff | ops | admin
    store_id: Mapped[int | None] = mapped_column(ForeignKey("stores.id"), nullable=True)
    password_hash: Mapped[str | None] = mapped_column(String(256), nullable=True)
    balance_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    held_fen: Mapped[int] = mapped_column(BigInteger, default=0)
    locale: Mapped[str] = mapped_column(String(8), default="zh-CN")


class OtpCode(Base):
    __tablename__ = "otp_codes"
    id: Mapped[int] = mapped_column(primary_key=True)
    phone: Mapped[str] = mapped_column(String(32), index=True)
    code_hash: Mapped[str] = mapped_column(String(128))
    expires_at: Mapped[datetime] = mapped_column(UtcDateTime)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    used: Mapped[bool] = mapped_column(Boolean, default=False)


class LoginFailure(Base):
    """Failed password sign-ins per user name, known or not (so a lockout reveals nothing)."""

    __tablename__ = "login_failures"
    name: Mapped[str] = mapped_column(String(64), primary_key=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)
    last_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime)


class Session(Base):
    """A resident's (or restocker's) visit to one door of one cabinet."""

    __tablename__ = "sessions"
    __table_args__ = (Index("uq_sessions_door_holder", "cabinet_id", "door", "holds_door", unique=True),)
    id: Mapped[str] = mapped_column(String(64), primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    door: Mapped[int] = mapped_column(Integer, default=0)
    mode: Mapped[str] = mapped_column(String(16), default="resident")
    command_id: Mapped[str] = mapped_column(String(36), unique=True)
    # pending → unlocked → open → closed → settled | review | not_opened | failed
    status: Mapped[str] = mapped_column(String(16), default="pending", index=True)
    # True while this session holds its door, NULL after: unique per door (migration 0005).
    holds_door: Mapped[bool | None] = mapped_column(Boolean, nullable=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    hold_fen: Mapped[int] = mapped_column(Integer, default=0)
    plan: Mapped[list[dict[str, object]] | None] = mapped_column(JSON, nullable=True)  # a restock's loads
    amount_fen: Mapped[int | None] = mapped_column(Integer, nullable=True)
    items: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    result: Mapped[dict[str, object] | None] = mapped_column(JSON, nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    updated_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    settled_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cabinet: Mapped[Cabinet] = relationship()


class Payment(Base):
    """Money movements of the embedded prepaid provider; one capture per session at most."""

    __tablename__ = "payments"
    __table_args__ = (UniqueConstraint("session_id", "kind"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    kind: Mapped[str] = mapped_column(String(16))  # top_up | hold | capture | release | refund
    amount_fen: Mapped[int] = mapped_column(BigInteger)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class ProcessedEvent(Base):
    """Every event stored once, by event_id: handling it twice changes nothing."""

    __tablename__ = "processed_events"
    __table_args__ = (UniqueConstraint("cabinet_id", "seq"),)
    event_id: Mapped[str] = mapped_column(String(36), primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    seq: Mapped[int] = mapped_column(BigInteger)
    kind: Mapped[str] = mapped_column(String(24))
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    happened_at: Mapped[datetime] = mapped_column(UtcDateTime)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class StoreStock(Base):
    """The parent store's stock per product, materialised from its movements."""

    __tablename__ = "store_stock"
    __table_args__ = (UniqueConstraint("store_id", "sku"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    count: Mapped[int] = mapped_column(Integer, default=0)


class StoreMovement(Base):
    """Append-only: receive, transfer to a cabinet, return from a cabinet, write-off."""

    __tablename__ = "store_movements"
    id: Mapped[int] = mapped_column(primary_key=True)
    store_id: Mapped[int] = mapped_column(ForeignKey("stores.id"), index=True)
    sku: Mapped[str] = mapped_column(String(64))
    delta: Mapped[int] = mapped_column(Integer)
    kind: Mapped[str] = mapped_column(String(24))  # receive | transfer_out | return_in | write_off
    session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    cabinet_id: Mapped[int | None] = mapped_column(ForeignKey("cabinets.id"), nullable=True)
    actor_id: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    note: Mapped[str] = mapped_column(Text, default="")
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)


class Alarm(Base):
    """open → acknowledged → resolved; one open alarm per (cabinet, kind, key)."""

    __tablename__ = "alarms"
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    kind: Mapped[str] = mapped_column(String(24))
    key: Mapped[str] = mapped_column(String(32), default="")  # door, channel, lane … within the kind
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)
    detail: Mapped[str] = mapped_column(Text, default="")
    evidence: Mapped[dict[str, object]] = mapped_column(JSON, default=dict)  # the telemetry that raised it
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    acknowledged_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    acknowledged_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    resolved_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cabinet: Mapped[Cabinet] = relationship()


class CabinetTelemetry(Base):
    """The latest telemetry of each cabinet, what the pages show."""

    __tablename__ = "cabinet_telemetry"
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), primary_key=True)
    received_at: Mapped[datetime] = mapped_column(UtcDateTime)
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    warm_since: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)


class TemperatureMinute(Base):
    """One-minute roll-up of a probe (kept 7 days): what the temperature charts draw."""

    __tablename__ = "temperature_minutes"
    __table_args__ = (UniqueConstraint("cabinet_id", "probe", "minute"),)
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    probe: Mapped[int] = mapped_column(Integer)
    minute: Mapped[datetime] = mapped_column(UtcDateTime, index=True)
    min_c: Mapped[float] = mapped_column(Float)
    max_c: Mapped[float] = mapped_column(Float)
    sum_c: Mapped[float] = mapped_column(Float)
    samples: Mapped[int] = mapped_column(Integer)
    door_open: Mapped[bool] = mapped_column(Boolean, default=False)


class PlanogramChange(Base):
    """A lane that gets another product at the next restock visit (pull the old, load the new)."""

    __tablename__ = "planogram_changes"
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    lane: Mapped[int] = mapped_column(Integer)
    product_id: Mapped[int] = mapped_column(ForeignKey("products.id"))
    capacity: Mapped[int] = mapped_column(Integer)
    par_level: Mapped[int] = mapped_column(Integer)
    requested_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    applied_session_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    product: Mapped[Product] = relationship()


class OutboxMessage(Base):
    """Something the cloud must tell a cabinet or a payment provider, written in the same transaction
    as the state change that calls for it and delivered by the dispatcher (cloud/outbox)."""

    __tablename__ = "outbox"
    __table_args__ = (Index("ix_outbox_due", "done_at", "next_attempt_at"),)
    id: Mapped[int] = mapped_column(BigInteger().with_variant(Integer, "sqlite"), primary_key=True)
    kind: Mapped[str] = mapped_column(String(16))  # command | config | payment
    # What a newer message replaces while this one is undelivered (one config per cabinet).
    key: Mapped[str] = mapped_column(String(128), index=True)
    payload: Mapped[dict[str, object]] = mapped_column(JSON)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    expires_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    next_attempt_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    attempts: Mapped[int] = mapped_column(Integer, default=0)
    last_error: Mapped[str] = mapped_column(Text, default="")
    # sent: the broker has it (PUBACK); done: nothing more to do (applied, expired, superseded …).
    sent_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    outcome: Mapped[str] = mapped_column(String(16), default="")


class Dispute(Base):
    """A resident's objection to a receipt; ops decide from the sensor trace (refund or not, and why)."""

    __tablename__ = "disputes"
    id: Mapped[int] = mapped_column(primary_key=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    reason: Mapped[str] = mapped_column(Text)
    state: Mapped[str] = mapped_column(String(16), default="open", index=True)  # open | refunded | rejected
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    refund_fen: Mapped[int] = mapped_column(Integer, default=0)
    decided_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    decided_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    decision_note: Mapped[str] = mapped_column(Text, default="")
    session: Mapped[Session] = relationship(foreign_keys=[session_id])


class ScaleRecalibration(Base):
    """A drifting load cell to recalibrate at the next restock visit (cloud/domain/recalibration.py).

    due (the gateway raised scale_drift) → tared (staff emptied the shelf and sent the signed tare) →
    done (the gateway cleared scale_drift from the readings after it)."""

    __tablename__ = "scale_recalibrations"
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), default="due", index=True)  # due | tared | done
    drift_g_per_h: Mapped[float | None] = mapped_column(Float, nullable=True)
    opened_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    tared_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    tared_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    command_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    done_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    cabinet: Mapped[Cabinet] = relationship()


class ColdChainIncident(Base):
    """A cabinet's excursion that withheld lanes: open until every exposed lane is restocked."""

    __tablename__ = "cold_chain_incidents"
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)  # the first reading above a limit
    withheld_at: Mapped[datetime] = mapped_column(UtcDateTime)
    closed_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    refunded_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    refunded_by: Mapped[int | None] = mapped_column(ForeignKey("users.id"), nullable=True)
    cabinet: Mapped[Cabinet] = relationship()


class LaneExposure(Base):
    """The time a lane's pieces spent above their storage limit, cumulative until a restock replaces them."""

    __tablename__ = "lane_exposures"
    id: Mapped[int] = mapped_column(primary_key=True)
    cabinet_id: Mapped[int] = mapped_column(ForeignKey("cabinets.id"), index=True)
    channel: Mapped[int] = mapped_column(Integer)
    lane: Mapped[int] = mapped_column(Integer)
    sku: Mapped[str] = mapped_column(String(64))
    storage: Mapped[str] = mapped_column(String(16))
    limit_c: Mapped[float] = mapped_column(Float)
    allowed_s: Mapped[float] = mapped_column(Float)
    allowed_degree_s: Mapped[float] = mapped_column(Float, default=0.0)  # °C·s; 0: time alone decides
    exposed_s: Mapped[float] = mapped_column(Float, default=0.0)
    degree_s: Mapped[float] = mapped_column(Float, default=0.0)  # time-temperature sum above the limit
    started_at: Mapped[datetime] = mapped_column(UtcDateTime)
    last_ts: Mapped[datetime] = mapped_column(UtcDateTime)  # the newest reading counted
    withheld_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
    pieces: Mapped[int] = mapped_column(Integer, default=0)  # in the lane when it was withheld
    incident_id: Mapped[int | None] = mapped_column(ForeignKey("cold_chain_incidents.id"), nullable=True)
    released_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True, index=True)
    released_by: Mapped[str | None] = mapped_column(String(64), nullable=True)  # the restock session


class ColdChainRefund(Base):
    """A visit that took exposed pieces, refunded by an incident; the resident is told on the next visit."""

    __tablename__ = "cold_chain_refunds"
    id: Mapped[int] = mapped_column(primary_key=True)
    incident_id: Mapped[int] = mapped_column(ForeignKey("cold_chain_incidents.id"), index=True)
    session_id: Mapped[str] = mapped_column(ForeignKey("sessions.id"), unique=True)
    user_id: Mapped[int] = mapped_column(ForeignKey("users.id"), index=True)
    amount_fen: Mapped[int] = mapped_column(Integer)
    items: Mapped[list[dict[str, object]]] = mapped_column(JSON, default=list)
    created_at: Mapped[datetime] = mapped_column(UtcDateTime, default=utcnow)
    notified_at: Mapped[datetime | None] = mapped_column(UtcDateTime, nullable=True)
