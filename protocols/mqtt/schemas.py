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
    model_validator,
)

from protocols import ProtocolError
from protocols.planogram import Planogram

SCHEMA_VERSION: Literal[1] = 1


def _to_utc(value: datetime) -> datetime:
    return value.astimezone(UTC)


UtcDatetime = Annotated[AwareDatetime, AfterValidator(_to_utc)]
CabinetId = Annotated[str, Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")]
# Every integer is bounded by what the stores hold (BIGINT, INTEGER) and the bus addresses
# (one byte): a schema-valid payload must never overflow a column or a struct downstream.
INT64_MAX = 2**63 - 1
Seq = Annotated[int, Field(ge=1, le=INT64_MAX)]
Count = Annotated[int, Field(ge=0, le=2**31 - 1)]
BusIndex = Annotated[int, Field(ge=0, le=255)]  # door, channel, lane, board address: one byte on the bus
Delta = Annotated[int, Field(ge=-10_000, le=10_000)]  # pieces moved in one lane in one session
ShortText = Annotated[str, Field(max_length=200)]
LongText = Annotated[str, Field(max_length=2000)]
SessionId = Annotated[str, Field(min_length=1, max_length=64)]
Grams = Annotated[float, Field(ge=-1e6, le=1e6)]
Celsius = Annotated[float, Field(ge=-100, le=150)]
Seconds = Annotated[float, Field(gt=0, le=86_400)]
SessionMode: TypeAlias = Literal["resident", "restock"]


def utc_now() -> datetime:
    return datetime.now(UTC)


class PayloadInvalid(ProtocolError):
    """A payload that does not match its schema."""


class _Model(BaseModel):
    # NaN and infinities are not readings: refuse them at the edge.
    model_config = ConfigDict(extra="forbid", frozen=True, allow_inf_nan=False)


class Payload(_Model):
    """Fields every payload carries."""

    v: Literal[1] = SCHEMA_VERSION
    ts: UtcDatetime = Field(default_factory=utc_now)


# -- status ---------------------------------------------------------------------------------


class Status(Payload):
    """Retained birth message; the same with `offline` is the last will."""

    state: Literal["online", "offline"]
    gateway_version: ShortText = ""
    config_version: int | None = Field(default=None, ge=0, le=INT64_MAX)  # the config it runs


# -- telemetry ------------------------------------------------------------------------------


class DoorReading(_Model):
    door: BusIndex
    open: bool
    locked: bool
    lock_fault: bool = False


class ChannelReading(_Model):
    channel: BusIndex
    grams: Grams
    stable: bool = True
    fault: bool = False


class BoardHealth(_Model):
    addr: BusIndex
    board_type: Literal["lock", "scale", "climate"]
    online: bool
    errors: Count = 0
    retries: Count = 0
    firmware: ShortText = ""
    serial_number: ShortText = ""


class ScaleHealth(_Model):
    """One load cell's health as the gateway measured it while nothing happened (gateway/scale_health.py).

    A figure is None until measured (drift needs a long quiet stretch; a tare starts it again)."""

    channel: BusIndex
    verdict: Literal["ok", "degrading", "failing"]
    drift_g_per_h: Grams | None = None  # zero drift, grams per hour
    creep_g: Grams | None = None  # movement after the last load change, drift removed
    noise_g: Grams | None = Field(default=None, ge=0)  # σ of one reading
    stuck: bool = False  # the same raw reading poll after poll
    saturated: bool = False  # the converter at its limit


class Telemetry(Payload):
    """Periodic sample; may be lost, so nothing depends on every one arriving."""

    temperatures_c: list[Celsius | None] = Field(default=[], max_length=64)
    setpoint_c: Celsius | None = None
    compressor_on: bool | None = None
    doors: list[DoorReading] = Field(default=[], max_length=64)
    weights: list[ChannelReading] = Field(default=[], max_length=256)
    boards: list[BoardHealth] = Field(default=[], max_length=256)
    scales: list[ScaleHealth] = Field(default=[], max_length=256)
    uptime_s: Count = 0
    outbox_depth: Count = 0
    signal_dbm: int | None = Field(default=None, ge=-200, le=100)
    # While offline the gateway keeps one sample per interval: how many readings it stands for.
    samples: int = Field(ge=1, le=2**31 - 1, default=1)


# -- events (acknowledged end to end) -------------------------------------------------------


class LaneDelta(_Model):
    channel: BusIndex
    lane: BusIndex
    sku: str = Field(min_length=1, max_length=64)
    delta: Delta  # negative: taken out; positive: put in


class LaneMove(_Model):
    """Pieces that left their lane but not the cabinet: found on another shelf of the same door.

    Never charged and never in `lanes` (which carry only what crossed the door); the pieces still
    count as stock of their lane, misplaced until staff tidy them."""

    channel: BusIndex
    lane: BusIndex
    sku: str = Field(min_length=1, max_length=64)
    to_channel: BusIndex
    count: int = Field(ge=1, le=10_000)


class BasketCandidate(_Model):
    lanes: list[LaneDelta] = Field(max_length=256)
    probability: float = Field(ge=0, le=1)
    moves: list[LaneMove] = Field(default=[], max_length=64)


class ChannelInference(_Model):
    channel: BusIndex
    delta_g: Grams
    outcome: Literal["ok", "ambiguous", "unexplained", "fault"]
    confidence: float = Field(ge=0, le=1)


class EventBase(Payload):
    """`ts` is when it happened; a replay after an outage keeps it."""

    event_id: UUID
    seq: Seq
    cabinet_id: CabinetId


class SessionResult(EventBase):
    kind: Literal["session_result"] = "session_result"
    session_id: SessionId
    command_id: UUID
    door: BusIndex
    mode: SessionMode
    outcome: Literal["completed", "not_opened"]
    unlocked_at: UtcDatetime
    opened_at: UtcDatetime | None = None
    closed_at: UtcDatetime | None = None
    baseline: list[ChannelReading] = Field(default=[], max_length=256)
    final: list[ChannelReading] = Field(default=[], max_length=256)
    channels: list[ChannelInference] = Field(default=[], max_length=256)
    lanes: list[LaneDelta] = Field(default=[], max_length=256)
    confidence: float = Field(ge=0, le=1, default=1.0)
    ambiguous: bool = False
    candidates: list[BasketCandidate] = Field(default=[], max_length=64)
    moves: list[LaneMove] = Field(default=[], max_length=64)  # of the answer in `lanes`


class DoorEvent(EventBase):
    kind: Literal["door"] = "door"
    door: BusIndex
    action: Literal["opened", "closed"]
    session_id: SessionId | None = None


AlarmKind: TypeAlias = Literal[
    "forced_open",
    "left_open",
    "board_fault",
    "serial_lost",
    "scale_fault",
    "lock_fault",
    "scale_drift",  # zero drift or creep past its limit: recalibrate
    "scale_noise",  # readings noisier than inference assumes
    "scale_stuck",  # the same raw reading poll after poll, or the converter saturated
]


class AlarmEvent(EventBase):
    kind: Literal["alarm"] = "alarm"
    alarm: AlarmKind
    state: Literal["raised", "cleared"]
    door: BusIndex | None = None
    board_addr: BusIndex | None = None
    channel: BusIndex | None = None
    detail: LongText = ""
    scale: ScaleHealth | None = None  # the figures behind a scale_* alarm


Event: TypeAlias = Annotated[SessionResult | DoorEvent | AlarmEvent, Field(discriminator="kind")]
_EVENT_ADAPTER: TypeAdapter[SessionResult | DoorEvent | AlarmEvent] = TypeAdapter(Event)


class EvAck(Payload):
    """The highest contiguous event seq the cloud has durably stored for this cabinet."""

    seq: int = Field(ge=0, le=INT64_MAX)


# -- commands (signed by the cloud, see protocols.signing) ----------------------------------


class UnlockAction(_Model):
    action: Literal["unlock"] = "unlock"
    door: BusIndex
    session_id: SessionId
    mode: SessionMode = "resident"
    pulse_ms: int = Field(ge=100, le=10_000, default=1500)


class TareAction(_Model):
    action: Literal["tare"] = "tare"
    channel: BusIndex | None = None  # None: every channel


class ConfigRefreshAction(_Model):
    action: Literal["config_refresh"] = "config_refresh"


Action: TypeAlias = Annotated[UnlockAction | TareAction | ConfigRefreshAction, Field(discriminator="action")]


class Command(Payload):
    """`ts` is when the cloud issued it; `signature` covers every other field."""

    command_id: UUID
    cabinet_id: CabinetId
    expires_at: UtcDatetime
    body: Action
    signature: str = Field(default="", max_length=512)


RejectReason: TypeAlias = Literal[
    "malformed",
    "bad_signature",
    "wrong_cabinet",
    "expired",
    "not_yet_valid",
    "replayed",
    "busy",
    "unknown_door",
    "unknown_channel",
    "hardware_fault",
    "internal_error",
]


class Ack(Payload):
    command_id: UUID | None  # None only when the command was too malformed to read it
    status: Literal["accepted", "rejected", "done"]
    reason: RejectReason | None = None
    detail: LongText = ""
    session_id: SessionId | None = None


# -- config (retained) ----------------------------------------------------------------------


class CabinetSettings(_Model):
    """What the cloud decides for one cabinet: fleet defaults, overridden per store, then per cabinet.

    Carried in the signed `config` (its `version` goes up with every change), so the gateway and the
    cloud read the same values: the gateway its session timings, the cloud its alarm rules and hold."""

    # Door sessions (gateway)
    door_open_timeout_s: Seconds = 30.0  # unlocked but never opened: the session ends
    left_open_after_s: Seconds = 120.0  # open this long: a `left_open` alarm
    settle_timeout_s: Seconds = 10.0  # after the door shuts, the scales have this long to settle
    telemetry_interval_s: Seconds = 10.0
    min_confidence: float = Field(gt=0, le=1, default=0.95)  # below it, a basket is ambiguous (reviewed)
    max_take: int = Field(ge=1, le=50, default=6)  # pieces one resident may take: the lint's limit
    # Money (cloud)
    hold_fen: int = Field(ge=0, le=1_000_000, default=5000)  # held when a resident opens a door
    # Alarms (cloud)
    chilled_max_c: Celsius = 8.0  # chilled goods above this are at risk …
    warm_grace_s: Seconds = 600.0  # … for this long before an alarm
    # Cold chain (cloud): pieces above their class's limit for this long in all are withheld and pulled
    chilled_excursion_s: Seconds = 1800.0
    # … or past this time-temperature sum above the limit (°C·min; 0: time alone decides)
    chilled_excursion_c_min: float = Field(ge=0, le=1_000_000, default=0.0)
    frozen_max_c: Celsius = -15.0
    frozen_excursion_s: Seconds = 1800.0
    frozen_excursion_c_min: float = Field(ge=0, le=1_000_000, default=0.0)
    silence_s: float = Field(ge=30, le=86_400, default=60.0)  # no telemetry for this long: offline
    outbox_backlog: Count = 100  # events waiting on the gateway before an alarm
    low_stock_fraction: float = Field(ge=0, le=1, default=0.2)  # a lane at this share of capacity is low

    @model_validator(mode="after")
    def _heard_before_silent(self) -> CabinetSettings:
        # A cabinet reporting less often than the silence limit would be taken offline between samples.
        if self.silence_s <= self.telemetry_interval_s:
            interval = self.telemetry_interval_s
            raise ValueError(
                f"silence_s ({self.silence_s:g}) must exceed telemetry_interval_s ({interval:g})"
            )
        return self


class LaneStock(_Model):
    channel: BusIndex
    lane: BusIndex
    count: Count


class Config(Payload):
    """Signed by the cloud like a command: a planogram decides what residents are charged."""

    version: int = Field(ge=1, le=INT64_MAX)
    cabinet_id: CabinetId | None = None  # None only in a local commissioning file
    planogram: Planogram
    settings: CabinetSettings = CabinetSettings()
    # Pieces per lane as the cloud's ledger knew them when it signed this config (optional): the
    # gateway starts from these and follows its own definite results (see gateway.stock).
    stock: list[LaneStock] = Field(default=[], max_length=4096)
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
