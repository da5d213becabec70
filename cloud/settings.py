"""Cloud settings (pydantic-settings, `VF_*` variables), read once per process."""

from __future__ import annotations

from pathlib import Path

from pydantic_settings import BaseSettings, SettingsConfigDict


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VF_", extra="ignore")

    db: str = "sqlite:///var/vendfleet.db"
    mqtt: str | None = None  # None: embed an amqtt broker (the demo default)
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
    influx_url: str | None = None
    influx_token: str | None = None
    influx_org: str = "vendfleet"
    influx_bucket: str = "telemetry"

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"
