"""The chaos day's schedule: which fault strikes what, when, and for how long. Seeded, no I/O."""

from __future__ import annotations

import random
from dataclasses import dataclass
from enum import StrEnum


class Kind(StrEnum):
    BROKER_KILL = "broker_kill"  # SIGKILL Mosquitto, start it again on the same port
    API_KILL = "api_kill"  # SIGKILL the cloud API (and the ingest worker in its process)
    INGEST_KILL = "ingest_kill"  # SIGKILL one ingest worker process while events arrive
    GATEWAY_KILL = "gateway_kill"  # SIGKILL one cabinet's gateway
    NETWORK_CUT = "network_cut"  # one cabinet's link to the broker black-holed
    SERIAL_NOISE = "serial_noise"  # ~1 % of one cabinet's serial bytes get a bit flipped
    SERIAL_UNPLUG = "serial_unplug"  # one cabinet's serial device vanishes, then comes back


@dataclass(frozen=True)
class Fault:
    at: float  # seconds after the chaos starts
    kind: Kind
    target: str  # "broker", "api", "ingest-N" or a cabinet code
    lasts: float  # seconds until the restart / the repair

    @property
    def ends(self) -> float:
        return self.at + self.lasts


@dataclass(frozen=True)
class Rates:
    """Seconds between two faults of a kind on one target; how long each lasts (min, max)."""

    broker: tuple[float, tuple[float, float]] = (420, (2, 8))
    api: tuple[float, tuple[float, float]] = (300, (1, 6))
    ingest: tuple[float, tuple[float, float]] = (300, (1, 5))
    gateway: tuple[float, tuple[float, float]] = (450, (1, 8))
    noise: tuple[float, tuple[float, float]] = (400, (20, 60))
    unplug: tuple[float, tuple[float, float]] = (500, (3, 20))


def plan(
    seed: int,
    span: float,
    cabinets: list[str],
    ingest_workers: int,
    cut_for: float,
    rates: Rates = Rates(),
) -> list[Fault]:
    """Every kind strikes at least once in `span` seconds; faults on one target never overlap."""
    rng = random.Random(seed)
    faults = _spread(rng, Kind.BROKER_KILL, "broker", span, *rates.broker)
    faults += _spread(rng, Kind.API_KILL, "api", span, *rates.api)
    for n in range(ingest_workers):
        faults += _spread(rng, Kind.INGEST_KILL, f"ingest-{n}", span, *rates.ingest)
    for code in cabinets:
        faults += _spread(rng, Kind.GATEWAY_KILL, code, span, *rates.gateway)
        faults += _spread(rng, Kind.SERIAL_NOISE, code, span, *rates.noise)
    unplugged = rng.choice(cabinets)
    faults += _spread(rng, Kind.SERIAL_UNPLUG, unplugged, span, *rates.unplug)
    cut = min(cut_for, span)
    faults.append(Fault(round(rng.uniform(0, span - cut), 1), Kind.NETWORK_CUT, rng.choice(cabinets), cut))
    return sorted(faults, key=lambda f: (f.at, f.kind, f.target))


def _spread(
    rng: random.Random, kind: Kind, target: str, span: float, every: float, lasts: tuple[float, float]
) -> list[Fault]:
    """One fault in each of `span / every` equal slots, at a random moment that ends within it."""
    count = max(1, round(span / every))
    slot = span / count
    faults = []
    for n in range(count):
        duration = round(rng.uniform(*lasts), 1)
        duration = min(duration, slot)
        faults.append(Fault(round(n * slot + rng.uniform(0, slot - duration), 1), kind, target, duration))
    return faults
