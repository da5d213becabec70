"""Gateway settings: command line, then `VF_*` environment variables, then a TOML file."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from pydantic import Field, model_validator
from pydantic_settings import (
    BaseSettings,
    SettingsConfigDict,
)

from gateway.scale_health import Limits
from protocols.runtime.layered_settings import load_layered

DEFAULT_SCAN = (0x10, 0x11, 0x20, 0x21, 0x22, 0x23, 0x30)


class GatewaySettings(BaseSettings):
    """Everything one gateway process needs; read once at start and passed down."""

    model_config = SettingsConfigDict(env_prefix="VF_", extra="forbid")

    cabinet_id: str = Field(pattern=r"^[A-Za-z0-9_-]{1,64}$")
    serial: str  # device path, pty path or pyserial URL (socket://, rfc2217://)
    mqtt: str = "mqtt://127.0.0.1:1883"
    data_dir: Path
    cloud_key: Path  # the cloud's Ed25519 public key (PEM)
    planogram: Path | None = None  # standalone: a config payload file used until the cloud sends one
    username: str | None = None  # the cabinet id: the broker binds it to client id and topics
    password: str | None = None
    tls_ca: Path | None = None
    tls_cert: Path | None = None
    tls_key: Path | None = None
    metrics_port: int | None = None
    mqtt_keepalive_s: int = 15  # the broker publishes our last will this long × 1.5 after we vanish

    # Serial bus (protocols/SERIAL.md)
    baudrate: int = 115200
    response_timeout_s: float = 0.05
    retries: int = 3
    inter_frame_gap_s: float = 0.005
    scan_addresses: tuple[int, ...] = DEFAULT_SCAN
    poll_fast_s: float = 0.1  # lock status while a door session runs
    poll_idle_s: float = 0.5
    sensors_idle_s: float = 5.0  # weights and climate when nothing happens

    # Store and forward
    evack_timeout_s: float = 10.0
    inflight_window: int = 500  # paho wraps message ids past 65535 in flight
    outbox_max_events: int = 100_000
    offline_telemetry_bucket_s: float = 60.0
    offline_telemetry_max: int = 1440

    # Door sessions: their timings come with the cloud's config (protocols CabinetSettings)
    baseline_timeout_s: float = 3.0

    # Load-cell health (gateway/scale_health.py): alarm limits and how long to watch
    scale_drift_limit_g_per_h: float = 5.0
    scale_creep_limit_g: float = 5.0
    scale_noise_limit_g: float = 3.0
    scale_stuck_polls: int = 30
    scale_creep_s: float = 300.0
    scale_min_span_s: float = 1200.0
    scale_window_s: float = 7200.0

    def scale_limits(self) -> Limits:
        return Limits(
            drift_g_per_h=self.scale_drift_limit_g_per_h,
            creep_g=self.scale_creep_limit_g,
            noise_g=self.scale_noise_limit_g,
            stuck_polls=self.scale_stuck_polls,
            creep_s=self.scale_creep_s,
            min_span_s=self.scale_min_span_s,
            window_s=self.scale_window_s,
        )

    @model_validator(mode="after")
    def _username_is_the_cabinet(self) -> GatewaySettings:
        # The broker admits a cabinet's user only as client id <cabinet_id> and lets it publish only
        # under vf/v1/<user>/: any other name would connect and then lose everything it sends.
        if self.username is not None and self.username != self.cabinet_id:
            raise ValueError(f"username {self.username!r} must be the cabinet id {self.cabinet_id!r}")
        return self


def load_settings(config_file: Path | None = None, **overrides: Any) -> GatewaySettings:
    """Settings from overrides (the CLI), then VF_* variables, then the TOML file."""
    return load_layered(GatewaySettings, config_file, overrides)
