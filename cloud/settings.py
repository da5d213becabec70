"""Cloud settings, read once per process: a TOML file < `VF_*` variables < the command line's flags.

Fleet defaults of the per-cabinet settings are `fleet` (`VF_FLEET__HOLD_FEN=3000`, `[fleet]` in the
file); stores and cabinets override them from the ops pages (cloud.domain.cabinet_settings).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from limits import parse_many
from pydantic import Field, field_validator, model_validator
from pydantic_settings import (
    BaseSettings,
    SettingsConfigDict,
)

from protocols.mqtt.schemas import CabinetSettings
from protocols.runtime.layered_settings import load_layered

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


# Up to this many queued messages go into one ingest transaction (measured in tests/bench/bench_ingest.py:
# 2,000 stores more telemetry and events per second than 500 on PostgreSQL; a quiet fleet never waits).
INGEST_BATCH_MAX = 2000


class CloudSettings(BaseSettings):
    model_config = SettingsConfigDict(env_prefix="VF_", env_nested_delimiter="__", extra="ignore")

    # production: no key is minted, no placeholder secret accepted, no one-time code shown on a page
    env: Literal["development", "production"] = "development"
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
    command_ttl_s: int = 60
    ingest_batch_max: int = Field(INGEST_BATCH_MAX, ge=1, le=100_000)
    token_ttl_s: int = 7 * 24 * 3600
    # Development: the one-time code is shown on the page instead of only in the log.
    dev_show_otp: bool = False
    # Defaults for every cabinet (hold, alarm rules, timings): `cloud serve` writes them to the database at
    # its start and re-publishes what changed; ingest workers read them there.
    fleet: CabinetSettings = CabinetSettings()
    # The maps' base layer, a Leaflet tile URL ("https://tile.openstreetmap.org/{z}/{x}/{y}.png", or a
    # Chinese provider's in production); empty: no base map (offline), positions on a plain grid.
    map_tile_url: str = ""
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

    @model_validator(mode="after")
    def _fit_for_production(self) -> CloudSettings:
        if self.env == "production":
            problems = [f"{name} is a placeholder" for name, value in self._secrets() if _placeholder(value)]
            missing = [name for name in KEY_FILES if not (self.key_dir / name).is_file()]
            if missing:
                names = ", ".join(missing)
                problems.append(f"no signing key: {names} missing in {self.key_dir} (VF_KEY_DIR)")
            if self.dev_show_otp:
                problems.append("dev_show_otp shows one-time codes on the page")
            if problems:
                raise ValueError("refusing to run in production: " + "; ".join(problems))
        return self

    def _secrets(self) -> list[tuple[str, str | None]]:
        return [
            ("the database password", urlsplit(self.db).password),
            ("mqtt_password", self.mqtt_password),
            ("influx_token", self.influx_token),
        ]

    @property
    def production(self) -> bool:
        return self.env == "production"

    @property
    def public_url(self) -> str:
        return self.base_url or f"http://{self.host}:{self.port}"


KEY_FILES = ("private.pem", "public.pem", "token.secret")  # cloud.commands.CloudKeys
PLACEHOLDERS = ("change-me", "changeme", "secret", "password")  # what example files ship


def _placeholder(value: str | None) -> bool:
    return value is not None and value.lower().startswith(PLACEHOLDERS)


def load_settings(config_file: Path | None = None, **flags: Any) -> CloudSettings:
    """The settings of this process: the file, then `VF_*` variables, then the flags actually given
    (a flag left out is None and does not hide the variable)."""
    return load_layered(CloudSettings, config_file, flags)
