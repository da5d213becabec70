"""Load-cell health: zero drift, creep, noise, stuck and saturated readings, sans-IO.

Fed every reading of one channel with its time and whether the cabinet was quiet (doors shut, no
session), it keeps the quiet stretch since the load last changed and answers with figures and a
verdict. Only quiet, stable readings teach it anything: a hand on the shelf is not drift.

- drift: Theil–Sen slope (median of pairwise slopes, robust to the odd spike) of the quiet stretch
  once creep has had its time, in g/h; kept from the last stretch long enough to measure.
- creep: how far the reading moved in the first `creep_s` after a load change, drift removed.
- noise: σ of successive differences (MAD-based; differences cancel the slow drift), in g.
- stuck: the same raw milligrams `stuck_polls` times in a row (a live cell never repeats itself).
- saturated: the converter at its limit.
"""

from __future__ import annotations

import statistics
from collections import deque
from dataclasses import dataclass, field
from typing import Literal

ADC_LIMIT_MG = 2**31 - 1  # the i32 of a WEIGHTS answer (SERIAL.md)
MAD_TO_SIGMA = 1.4826
MAX_POINTS = 120  # Theil–Sen is quadratic: thin a long stretch to this many points
NOISE_DIFFS = 200
MIN_NOISE_DIFFS = 30  # fewer make a σ too rough to raise an alarm on
REFITS_PER_SPAN = 20  # a slope over the minimum span moves little in a twentieth of it: fit no more often
CLEAR_SHARE = 0.8  # an alarm clears below this share of its limit: no flapping on the edge

Verdict = Literal["ok", "degrading", "failing"]


@dataclass(frozen=True)
class Limits:
    drift_g_per_h: float = 5.0
    creep_g: float = 5.0
    noise_g: float = 3.0
    stuck_polls: int = 30
    creep_s: float = 300.0  # after a load change the cell creeps this long; drift is fitted after it
    min_span_s: float = 1200.0  # a drift figure needs this much quiet time to mean anything
    window_s: float = 7200.0  # drift is fitted over the latest quiet time this long


@dataclass(frozen=True)
class Figures:
    drift_g_per_h: float | None  # None: not measured yet (since start or since the last tare)
    creep_g: float | None
    noise_g: float | None
    stuck: bool
    saturated: bool
    drifting: bool  # each verdict keeps its previous value while its figure is unknown
    noisy: bool

    @property
    def verdict(self) -> Verdict:
        if self.stuck or self.saturated:
            return "failing"
        return "degrading" if self.drifting or self.noisy else "ok"


@dataclass
class ChannelHealth:
    limits: Limits = field(default_factory=Limits)
    _stretch: list[tuple[float, float]] = field(default_factory=list)  # (seconds, grams), quiet
    _diffs: deque[float] = field(default_factory=lambda: deque(maxlen=NOISE_DIFFS))
    _last_raw: int | None = None
    _repeats: int = 0
    _saturated: bool = False
    _drift: float | None = None
    _creep: float | None = None
    _drifting: bool = False
    _noisy: bool = False
    _start: float | None = None  # when the quiet stretch began
    _creep_due: bool = False  # the stretch follows a load change: measure its creep
    _fitted_at: float = float("-inf")

    def observe(
        self, at: float, grams: float, raw_mg: int, *, stable: bool, fault: bool, quiet: bool
    ) -> None:
        """One poll of the channel (`at` in seconds on any monotonic scale)."""
        self._repeats = self._repeats + 1 if raw_mg == self._last_raw else 1
        self._last_raw = raw_mg
        self._saturated = abs(raw_mg) >= ADC_LIMIT_MG
        if fault or not (quiet and stable):
            self._end_stretch(load_changed=quiet is False)
            return
        if self._stretch:
            self._diffs.append(grams - self._stretch[-1][1])
        else:
            self._start = at
        self._stretch.append((at, grams))
        while at - self._stretch[0][0] > self.limits.window_s + self.limits.creep_s:
            self._stretch.pop(0)  # old enough: the creep window, if any, was measured long ago
        self._judge()

    def tared(self) -> None:
        """A tare (or calibration) zeroes the cell: what was measured before says nothing now.
        The verdicts stay until readings after it prove them wrong: that is the verification."""
        self._stretch.clear()
        self._diffs.clear()
        self._drift = self._creep = None
        self._creep_due = False
        self._fitted_at = float("-inf")

    def figures(self) -> Figures:
        noise = self._noise()
        return Figures(
            drift_g_per_h=self._drift,
            creep_g=self._creep,
            noise_g=noise,
            stuck=self._repeats >= self.limits.stuck_polls,
            saturated=self._saturated,
            drifting=self._drifting,
            noisy=self._noisy,
        )

    # -- inside ----------------------------------------------------------------------------------

    def _end_stretch(self, load_changed: bool) -> None:
        self._creep_due = self._creep_due or load_changed
        self._stretch.clear()

    def _judge(self) -> None:
        lim = self.limits
        start = self._start if self._start is not None else self._stretch[0][0]
        settled = [(t, g) for t, g in self._stretch if t - start >= lim.creep_s]
        now = self._stretch[-1][0]
        if (
            settled
            and now - settled[0][0] >= lim.min_span_s
            and now - self._fitted_at >= lim.min_span_s / REFITS_PER_SPAN
        ):
            self._fitted_at = now
            self._drift = round(theil_sen(_thin(settled)) * 3600, 2)
        if self._creep_due and settled:
            self._creep, self._creep_due = self._creep_of(start), False
        if self._drift is not None or self._creep is not None:
            self._drifting = _hysteresis(
                self._drifting, max(_ratio(self._drift, lim.drift_g_per_h), _ratio(self._creep, lim.creep_g))
            )
        noise = self._noise()
        if noise is not None:
            self._noisy = _hysteresis(self._noisy, noise / lim.noise_g)

    def _creep_of(self, start: float) -> float:
        """Movement over the creep window, minus what the known drift explains."""
        lim = self.limits
        head = [g for t, g in self._stretch if t - start < lim.creep_s / 10]
        tail = [g for t, g in self._stretch if lim.creep_s * 0.9 <= t - start <= lim.creep_s * 1.1]
        if not head or not tail:
            return 0.0
        drift = (self._drift or 0.0) / 3600 * lim.creep_s
        return round(statistics.median(tail) - statistics.median(head) - drift, 2)

    def _noise(self) -> float | None:
        if len(self._diffs) < MIN_NOISE_DIFFS:
            return None
        mad = statistics.median(abs(d) for d in self._diffs)
        return MAD_TO_SIGMA * mad / 2**0.5


def theil_sen(points: list[tuple[float, float]]) -> float:
    """Median slope over every pair of points (grams per second)."""
    slopes = [
        (g2 - g1) / (t2 - t1) for i, (t1, g1) in enumerate(points) for t2, g2 in points[i + 1 :] if t2 > t1
    ]
    return statistics.median(slopes) if slopes else 0.0


def _thin(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    step = max(1, len(points) // MAX_POINTS)
    return points[::step]


def _ratio(value: float | None, limit: float) -> float:
    return 0.0 if value is None else abs(value) / limit


def _hysteresis(active: bool, ratio: float) -> bool:
    return ratio >= CLEAR_SHARE if active else ratio >= 1.0
