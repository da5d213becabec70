"""Faults on demand, e.g. `--faults corrupt=0.01,dead_board=0x20,compressor=failed,lie=ghost_door`.

Failing load cells: `drift=2:40` (channel 2 drifts 40 g/h), `creep=1:8`, `noisy=3:10`, `stuck_channel=0`."""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Literal, TypeAlias

from pydantic import BaseModel, Field

# Answers with a good CRC and impossible content (firmware_sim/lies.py tells each one).
Lie: TypeAlias = Literal[
    "ghost_door",  # the lock board reports a door event for a door it does not have
    "extra_channel",  # a scale board reports one channel more than it has
    "impossible_weight",  # a healthy channel carrying 2,000 kg
    "stray_reply",  # every answer also comes from the neighbouring address nobody asked
    "status_from_scale",  # scale boards answer READ_WEIGHTS with a STATUS: "door 0 closed"
]


class Faults(BaseModel):
    """Also the JSON body of `POST /faults` (fields left out keep their value)."""

    corrupt: float = Field(0.0, ge=0, le=1)  # per answer byte: flip one bit
    drop: float = Field(0.0, ge=0, le=1)  # per answer byte: lose it
    dead_boards: set[int] = set()  # addresses that answer nothing
    stuck_locks: set[int] = set()  # doors whose lock never releases (UNLOCK → NACK 5)
    dead_channels: set[int] = set()  # scale channels that report a fault and nonsense
    # A failing load cell, per channel (grams in simulated time): extra zero drift in g/h until the
    # channel is tared (staff reseat the emptied shelf), creep after each load change, extra noise σ.
    scale_drift: dict[int, float] = {}
    scale_creep: dict[int, float] = {}
    scale_noise: dict[int, float] = {}
    stuck_channels: set[int] = set()  # the converter repeats its last reading
    compressor: Literal["ok", "failed"] = "ok"  # failed: it runs on demand but cools nothing
    lies: set[Lie] = set()


def parse_spec(spec: str) -> Faults:
    """The `--faults` syntax: comma-separated key=value; repeat a key for several ids."""
    values: dict[str, object] = {
        "dead_boards": set(),
        "stuck_locks": set(),
        "dead_channels": set(),
        "stuck_channels": set(),
    }
    for item in filter(None, (part.strip() for part in spec.split(","))):
        key, _, raw = item.partition("=")
        match key:
            case "corrupt" | "drop":
                values[key] = float(raw)
            case "dead_board" | "stuck_lock" | "dead_channel" | "stuck_channel":
                values[f"{key}s"].add(int(raw, 0))  # type: ignore[attr-defined]
            case "drift" | "creep" | "noisy":  # channel:amount, e.g. drift=2:40 (g/h)
                channel, _, amount = raw.partition(":")
                field_name = {"drift": "scale_drift", "creep": "scale_creep", "noisy": "scale_noise"}[key]
                values.setdefault(field_name, {})[int(channel, 0)] = float(amount)  # type: ignore[index]
            case "compressor":
                values[key] = raw
            case "lie":
                values.setdefault("lies", set()).add(raw)  # type: ignore[attr-defined]
            case _:
                raise ValueError(
                    f"unknown fault {key!r} (corrupt, drop, dead_board, stuck_lock, dead_channel, "
                    "stuck_channel, drift, creep, noisy, compressor, lie)"
                )
    return Faults.model_validate(values)


@dataclass
class LineNoise:
    """Damages bytes on their way out, as a noisy RS-485 line would."""

    rng: random.Random = field(default_factory=random.Random)

    def apply(self, data: bytes, faults: Faults) -> bytes:
        if not (faults.corrupt or faults.drop):
            return data
        out = bytearray()
        for byte in data:
            if self.rng.random() < faults.drop:
                continue
            if self.rng.random() < faults.corrupt:
                byte ^= 1 << self.rng.randrange(8)
            out.append(byte)
        return bytes(out)
