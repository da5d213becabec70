"""The planogram: which product sits in which lane of which scale channel of a cabinet.

It travels as the `config` payload (cloud → gateway), feeds weight inference and the cloud's
stock ledger. Scale channels are numbered 0.. across all scale boards in address order.
"""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field, model_validator


class _Model(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class Lane(_Model):
    """One lane (or shelf position) holding one SKU."""

    lane: int = Field(ge=0, le=255)
    sku: str = Field(min_length=1, max_length=64)
    unit_weight_g: float = Field(gt=0, le=100_000, allow_inf_nan=False)
    # Half-width of the per-piece weight spread the supplier guarantees (grams).
    tolerance_g: float = Field(ge=0, le=100_000, allow_inf_nan=False)
    capacity: int = Field(ge=0, le=10_000)
    price_fen: int = Field(ge=0, le=2**31 - 1, default=0)
    chilled: bool = False


class Channel(_Model):
    """One load-cell channel; all its lanes weigh on it together."""

    channel: int = Field(ge=0, le=255)
    door: int = Field(ge=0, le=255, default=0)
    lanes: tuple[Lane, ...] = Field(min_length=1)

    @model_validator(mode="after")
    def _unique_lanes(self) -> Channel:
        numbers = [lane.lane for lane in self.lanes]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"channel {self.channel}: lane numbers repeat: {numbers}")
        return self


class Planogram(_Model):
    """Channels of a cabinet; doors without channels (lockers) have none."""

    channels: tuple[Channel, ...] = ()

    @model_validator(mode="after")
    def _unique_channels(self) -> Planogram:
        numbers = [c.channel for c in self.channels]
        if len(set(numbers)) != len(numbers):
            raise ValueError(f"scale channels repeat: {numbers}")
        return self

    def channel(self, number: int) -> Channel | None:
        return next((c for c in self.channels if c.channel == number), None)

    def channels_of_door(self, door: int) -> tuple[Channel, ...]:
        return tuple(c for c in self.channels if c.door == door)
