"""Cloud settings (pydantic-settings, `VF_*` variables), read once per process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.domain.telemetry import Thresholds


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VF_", extra="ignore")

    db: str = "sqlite:///var/vendfleet.db"
    mqtt: str | None = None  # None: embed an amqtt broker (the demo default)
    mqtt_username: str | None = None  # the broker's `cloud` user in production
    mqtt_password: str | None = None
    embedded_mqtt_port: int = 1883
    host: str = "127.0.0.1"
    port: int = 8000
    base_url: str | None = None  # what the QR codes point at; defaults to http://host:port
    key_dir: Path = Path("var/keys")
    share_group: str | None = "cloud"  # shared subscriptions; None for brokers without them
    hold_fen: int = 5000  # funds held when a resident opens a door
    command_ttl_s: int = 60
    token_ttl_s: int = 7 * 24 * 3600
    # Development: the one-time code is shown on the page instead of only in the log.
    dev_show_otp: bool = False
    chilled_max_c: float = 8.0
    warm_grace_s: float = 600.0  # chilled goods may be warm this long before an alarm
    silence_s: float = 60.0  # no telemetry for this long: the cabinet is offline
    outbox_backlog: int = 100
    influx_url: str | None = None
    influx_token: str | None = None
    influx_org: str = "vendfleet"
    influx_bucket: str = "telemetry"

    @property
    def thresholds(self) -> Thresholds:
        return Thresholds(
            self.chilled_max_c,
            timedelta(seconds=self.warm_grace_s),
            self.outbox_backlog,
            timedelta(seconds=self.silence_s),
        )

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"
