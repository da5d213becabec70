"""Payload schemas of every MQTT topic (DESIGN §3): JSON, versioned, timestamped in UTC.

Parse with `parse(Model, raw)` / `parse_event(raw)`: a malformed payload raises `PayloadInvalid`
with a readable reason. Encode with `encode(model)`.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Literal, TypeAlias, TypeVar
from uuid import UUID

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    TypeAdapter,
    ValidationError,
)

from protocols import ProtocolError
from protocols.planogram import Planogram

SCHEMA_VERSION: Literal[1] = 1


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
CabinetId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
SessionMode: TypeAlias = Literal["resident", "restock"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class PayloadInvalid(ProtocolError):
    """A payload that does not match its schema."""


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Payload(_Model):
    """Fields every payload carries."""

    v: Literal[1] = SCHEMA_VERSION
    ts: UtcDatetime = Field(default_factory=utc_now)


# -- status ---------------------------------------------------------------------------------


class Status(Payload):
    """Retained birth message; the same with `offline` is the last will."""

    state: Literal["online", "offline"]
    gateway_version: str = ""


# -- telemetry ------------------------------------------------------------------------------


class DoorReading(_Model):
    door: int = Field(ge=0)
    open: bool
    locked: bool
    lock_fault: bool = False


class ChannelReading(_Model):
    channel: int = Field(ge=0)
    grams: float
    stable: bool = True
    fault: bool = False


class BoardHealth(_Model):
    addr: int = Field(ge=0, le=255)
    board_type: Literal["lock", "scale", "climate"]
    online: bool
    errors: int = Field(ge=0, default=0)
    retries: int = Field(ge=0, default=0)
    firmware: str = ""
    serial_number: str = ""


class Telemetry(Payload):
    """Periodic sample; may be lost, so nothing depends on every one arriving."""

    temperatures_c: list[float | None] = []
    setpoint_c: float | None = None
    compressor_on: bool | None = None
    doors: list[DoorReading] = []
    weights: list[ChannelReading] = []
    boards: list[BoardHealth] = []
    uptime_s: int = Field(ge=0, default=0)
    outbox_depth: int = Field(ge=0, default=0)
    signal_dbm: int | None = None
    # While offline the gateway keeps one sample per interval: how many readings it stands for.
    samples: int = Field(ge=1, default=1)


# -- events (acknowledged end to end) -------------------------------------------------------


class LaneDelta(_Model):
    channel: int = Field(ge=0)
    lane: int = Field(ge=0)
    sku: str
    delta: int  # negative: taken out; positive: put in


class BasketCandidate(_Model):
    lanes: list[LaneDelta]
    probability: float = Field(ge=0, le=1)


class ChannelInference(_Model):
    channel: int = Field(ge=0)
    delta_g: float
    outcome: Literal["ok", "ambiguous", "unexplained", "fault"]
    confidence: float = Field(ge=0, le=1)


class EventBase(Payload):
    """`ts` is when it happened; a replay after an outage keeps it."""

    event_id: UUID
    seq: int = Field(ge=1)
    cabinet_id: CabinetId


class SessionResult(EventBase):
    kind: Literal["session_result"] = "session_result"
    session_id: str = Field(min_length=1, max_length=64)
    command_id: UUID
    door: int = Field(ge=0)
    mode: SessionMode
    outcome: Literal["completed", "not_opened"]
    unlocked_at: UtcDatetime
    opened_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None
    baseline: list[ChannelReading] = []
    final: list[ChannelReading] = []
    channels: list[ChannelInference] = []
    lanes: list[LaneDelta] = []
    confidence: float = Field(ge=0, le=1, default=1.0)
    ambiguous: bool = False
    candidates: list[BasketCandidate] = []


class DoorEvent(EventBase):
    kind: Literal["door"] = "door"
    door: int = Field(ge=0)
    action: Literal["opened", "closed"]
    session_id: str | None = None


AlarmKind: TypeAlias = Literal[
    "forced_open", "left_open", "board_fault", "serial_lost", "scale_fault", "lock_fault"
]


class AlarmEvent(EventBase):
    kind: Literal["alarm"] = "alarm"
    alarm: AlarmKind
    state: Literal["raised", "cleared"]
    door: int | None = None
    board_addr: int | None = None
    channel: int | None = None
    detail: str = ""


Event: TypeAlias = Annotated[SessionResult | DoorEvent | AlarmEvent, Field(discriminator="kind")]
_EVENT_ADAPTER: TypeAdapter[SessionResult | DoorEvent | AlarmEvent] = TypeAdapter(Event)


class EvAck(Payload):
    """The highest contiguous event seq the cloud has durably stored for this cabinet."""

    seq: int = Field(ge=0)


# -- commands (signed by the cloud, see protocols.signing) ----------------------------------


class UnlockAction(_Model):
    action: Literal["unlock"] = "unlock"
    door: int = Field(ge=0, le=255)
    session_id: str = Field(min_length=1, max_length=64)
    mode: SessionMode = "resident"
    pulse_ms: int = Field(ge=100, le=10_000, default=1500)


class TareAction(_Model):
    action: Literal["tare"] = "tare"
    channel: int | None = None  # None: every channel


class ConfigRefreshAction(_Model):
    action: Literal["config_refresh"] = "config_refresh"


Action: TypeAlias = Annotated[UnlockAction | TareAction | ConfigRefreshAction, Field(discriminator="action")]


class Command(Payload):
    """`ts` is when the cloud issued it; `signature` covers every other field."""

    command_id: UUID
    cabinet_id: CabinetId
    expires_at: UtcDatetime
    body: Action
    signature: str = ""


RejectReason: TypeAlias = Literal[
    "malformed",
    "bad_signature",
    "wrong_cabinet",
    "expired",
    "not_yet_valid",
    "replayed",
    "busy",
    "unknown_door",
    "hardware_fault",
]


class Ack(Payload):
    command_id: UUID | None  # None only when the command was too malformed to read it
    status: Literal["accepted", "rejected", "done"]
    reason: RejectReason | None = None
    detail: str = ""
    session_id: str | None = None


# -- config (retained) ----------------------------------------------------------------------


class CabinetSettings(_Model):
    poll_idle_ms: int = Field(ge=50, default=1000)
    poll_open_ms: int = Field(ge=20, default=200)
    telemetry_interval_s: float = Field(gt=0, default=10.0)
    door_open_timeout_s: float = Field(gt=0, default=30.0)
    left_open_after_s: float = Field(gt=0, default=120.0)
    settle_timeout_s: float = Field(gt=0, default=10.0)
    min_confidence: float = Field(gt=0, le=1, default=0.95)
    setpoint_c: float | None = None


class Config(Payload):
    """Signed by the cloud like a command: a planogram decides what residents are charged."""

    version: int = Field(ge=1)
    cabinet_id: CabinetId | None = None  # None only in a local commissioning file
    planogram: Planogram
    settings: CabinetSettings = CabinetSettings()
    signature: str = ""


# -- parsing --------------------------------------------------------------------------------

M = TypeVar("M", bound=BaseModel)


def _reason(exc: ValidationError) -> str:
    return "; ".join(
        f"{'.'.join(str(p) for p in err['loc']) or 'payload'}: {err['msg']}"
        for err in exc.errors(include_url=False)[:5]
    )


def parse(model: type[M], raw: bytes | str) -> M:
    """Validate a JSON payload against `model`."""
    try:
        return model.model_validate_json(raw)
    except ValidationError as exc:
        raise PayloadInvalid(f"{model.__name__}: {_reason(exc)}") from None


def parse_event(raw: bytes | str) -> SessionResult | DoorEvent | AlarmEvent:
    """Validate an `events` payload of any kind."""
    try:
        return _EVENT_ADAPTER.validate_json(raw)
    except ValidationError as exc:
        raise PayloadInvalid(f"event: {_reason(exc)}") from None


def encode(payload: BaseModel) -> bytes:
    return payload.model_dump_json().encode()
