"""Every load cell's health, watched: figures for telemetry, scale_* alarms, a wider noise model.

The service feeds it each channel's reading and whether the cabinet is quiet; the figures come
from gateway/scale_health.py. A degrading cell widens the noise model of the sessions that weigh
it, so inference flags what it can no longer tell apart instead of charging for it.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from datetime import datetime

from gateway.alarms import Alarms
from gateway.scale_health import ChannelHealth, Figures, Limits
from protocols.mqtt.schemas import ScaleHealth
from protocols.planogram_lint import NoiseModel
from protocols.serial.commands import ChannelWeight


class ScaleWatch:
    def __init__(self, limits: Limits, alarms: Alarms) -> None:
        self._limits = limits
        self._alarms = alarms
        self._cells: dict[int, ChannelHealth] = {}
        self._polls: dict[int, int] = {}

    def observe(self, channel: int, reading: ChannelWeight, at: datetime, *, quiet: bool) -> None:
        cell = self._cells.setdefault(channel, ChannelHealth(self._limits))
        grams = reading.milligrams / 1000
        cell.observe(
            at.timestamp(), grams, reading.milligrams, stable=reading.stable, fault=reading.fault, quiet=quiet
        )
        self._polls[channel] = self._polls.get(channel, 0) + 1
        self._alarm(channel, cell.figures(), self._polls[channel])

    def tared(self, channels: Iterable[int]) -> None:
        for channel in channels:
            if channel in self._cells:
                self._cells[channel].tared()

    def summaries(self) -> list[ScaleHealth]:
        return [summary(c, cell.figures()) for c, cell in sorted(self._cells.items())]

    def noise(self, base: NoiseModel, channels: Iterable[int]) -> NoiseModel:
        """`base`, widened by what the degrading cells among `channels` measured of themselves."""
        sigma, drift = base.sensor_sigma_g, base.drift_g
        for channel in channels:
            cell = self._cells.get(channel)
            f = cell.figures() if cell else None
            if f is None or f.verdict == "ok":
                continue
            sigma = max(sigma, f.noise_g or 0.0)
            # A session lasts minutes, but the zero may have moved since the baseline: an hour's drift
            # plus the creep is a generous bound that keeps a wrong charge away.
            drift = max(drift, base.drift_g + abs(f.drift_g_per_h or 0.0) + abs(f.creep_g or 0.0))
        return replace(base, sensor_sigma_g=sigma, drift_g=drift)

    def _alarm(self, channel: int, f: Figures, polls: int) -> None:
        """Each alarm once its figure is known: a restarted gateway clears what it no longer sees."""
        fields = {"channel": channel, "scale": summary(channel, f)}
        if f.drift_g_per_h is not None or f.creep_g is not None or f.drifting:
            self._alarms.judged(f.drifting, "scale_drift", channel, detail=_drift_detail(f), **fields)
        if f.noise_g is not None:
            detail = f"noise {f.noise_g:.1f} g"
            self._alarms.judged(f.noisy, "scale_noise", channel, detail=detail, **fields)
        if polls >= self._limits.stuck_polls or f.saturated:
            stuck = "saturated" if f.saturated else "stuck"
            self._alarms.judged(f.stuck or f.saturated, "scale_stuck", channel, detail=stuck, **fields)


def summary(channel: int, f: Figures) -> ScaleHealth:
    return ScaleHealth(
        channel=channel,
        verdict=f.verdict,
        drift_g_per_h=None if f.drift_g_per_h is None else round(f.drift_g_per_h, 1),
        creep_g=None if f.creep_g is None else round(f.creep_g, 1),
        noise_g=None if f.noise_g is None else round(f.noise_g, 2),
        stuck=f.stuck,
        saturated=f.saturated,
    )


def _drift_detail(f: Figures) -> str:
    return f"drift {f.drift_g_per_h if f.drift_g_per_h is not None else '?'} g/h, creep {f.creep_g or 0} g"
