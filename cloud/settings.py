"""Cloud settings (pydantic-settings, `VF_*` variables), read once per process."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

from limits import parse_many
from pydantic import field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from cloud.domain.telemetry import Thresholds

# Sign-in rate limits ("N/period;M/period" in the `limits` notation).
RATE_SETTINGS = (
    "otp_requests_per_phone",
    "otp_requests_per_ip",
    "otp_requests_total",
    "otp_verifies_per_phone",
    "otp_verifies_per_ip",
    "otp_verifies_total",
    "logins_per_name",
    "logins_per_ip",
)


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
    # The maps' base layer, a Leaflet tile URL ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", or a
    # Chinese provider's in production); empty: no base map (offline), positions on a plain grid.
    map_tile_url: str = ""
    chilled_max_c: float = 8.0
    warm_grace_s: float = 600.0  # chilled goods may be warm this long before an alarm
    silence_s: float = 60.0  # no telemetry for this long: the cabinet is offline
    outbox_backlog: int = 100
    # Sign-in abuse. Rates in `limits` notation over moving windows, several joined by ";".
    # The counts live in `throttle_storage`: this process's memory, or `redis://host:6379` to
    # share them between API processes. The client address is the one uvicorn reports (behind
    # a reverse proxy, let it trust X-Forwarded-For with --forwarded-allow-ips).
    throttle_storage: str = "memory://"
    otp_requests_per_phone: str = "3/minute;10/hour"
    otp_requests_per_ip: str = "30/minute;300/hour"  # generous: carrier NAT puts many phones on one address
    otp_requests_total: str = "600/minute"
    otp_verifies_per_phone: str = "10/minute;30/hour"
    otp_verifies_per_ip: str = "60/minute;600/hour"
    otp_verifies_total: str = "1200/minute"
    otp_max_attempts: int = 5  # guesses per code; then it is burnt and a new one must be requested
    logins_per_name: str = "10/minute"
    logins_per_ip: str = "30/minute;300/hour"
    login_max_failures: int = 5  # wrong passwords in a row (each within the lockout of the last) …
    login_lockout_s: float = 900.0  # … lock the name for this long
    influx_url: str | None = None
    influx_token: str | None = None
    influx_org: str = "vendfleet"
    influx_bucket: str = "telemetry"

    @field_validator(*RATE_SETTINGS)
    @classmethod
    def _rates_parse(cls, rates: str) -> str:
        parse_many(rates)  # a typo fails at start, not on the first sign-in
        return rates

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
