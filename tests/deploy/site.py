"""A site's broker as shipped: deploy/'s Mosquitto config, credentials from the provisioning script."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from tests.servers import MosquittoFactory, MosquittoServer

DEPLOY = Path(__file__).parents[2] / "deploy"
MOSQUITTO = DEPLOY / "compose" / "mosquitto"


def provision(tmp_path: Path, cabinet: str) -> Path:
    key = tmp_path / "cloud-public.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\n")
    subprocess.run(
        [
            sys.executable,
            str(DEPLOY / "provision_cabinet.py"),
            cabinet,
            "--passwd",
            str(tmp_path / "passwd"),
            "--mqtt",
            "mqtt://127.0.0.1:1883",
            "--cloud-key",
            str(key),
            "--out",
            str(tmp_path / "cabinets"),
        ],
        check=True,
        capture_output=True,
    )
    return tmp_path / "cabinets" / cabinet / "gateway.toml"


def password_of(toml: Path) -> str:
    return next(line.split('"')[1] for line in toml.read_text().splitlines() if line.startswith("password"))


@dataclass
class Site:
    broker: MosquittoServer
    passwords: dict[str, str]
    dir: Path

    def gateway_toml(self, cabinet: str) -> Path:
        return self.dir / "cabinets" / cabinet / "gateway.toml"


def start_site(tmp_path: Path, mosquitto_factory: MosquittoFactory, cabinets: tuple[str, ...]) -> Site:
    passwords = {cabinet: password_of(provision(tmp_path, cabinet)) for cabinet in cabinets}
    subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "passwd"), "cloud", "cloud-secret"], check=True)
    passwords["cloud"] = "cloud-secret"
    conf = "\n".join(
        line.replace("/mosquitto/config/", "{dir}/")
        for line in (MOSQUITTO / "mosquitto.conf").read_text().splitlines()
        if not line.startswith(
            ("listener", "certfile", "keyfile", "cafile", "tls_version", "persistence_location")
        )
        and line.strip() not in ("persistence true", "allow_anonymous false")
    )
    files = {"passwd": (tmp_path / "passwd").read_text(), "acl": (MOSQUITTO / "acl").read_text()}
    broker = mosquitto_factory(
        conf.replace("per_listener_settings false", "") + "\nallow_anonymous false\n", files
    )
    return Site(broker, passwords, tmp_path)
