"""A site's broker as shipped: deploy/'s Mosquitto config, users from the provisioning script."""

from __future__ import annotations

import glob
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from firmware_sim.demo.servers import MosquittoFactory, MosquittoServer

DEPLOY = Path(__file__).parents[2] / "deploy"
MOSQUITTO = DEPLOY / "compose" / "mosquitto"
CLOUD_PASSWORD = "cloud-secret"
PLUGIN_DIRS = ("/usr/lib", "/usr/lib/*-linux-gnu", "/usr/local/lib")  # the image's, Debian's, a build's


def provision(tmp_path: Path, *args: str) -> None:
    """Run deploy/provision_cabinet.py as an operator would, into tmp_path."""
    key = tmp_path / "cloud-public.pem"
    key.write_text("-----BEGIN PUBLIC KEY-----\n")
    command = [sys.executable, str(DEPLOY / "provision_cabinet.py"), *args]
    command += ["--dynsec", str(tmp_path / "dynamic-security.json")]
    if not args[0].startswith("--"):
        command += [
            "--mqtt",
            "mqtt://127.0.0.1:1883",
            "--cloud-key",
            str(key),
            "--out",
            str(tmp_path / "cabinets"),
        ]
    subprocess.run(command, check=True, capture_output=True)


def gateway_toml(tmp_path: Path, cabinet: str) -> Path:
    return tmp_path / "cabinets" / cabinet / "gateway.toml"


def password_of(toml: Path) -> str:
    return next(line.split('"')[1] for line in toml.read_text().splitlines() if line.startswith("password"))


def shipped_conf() -> str:
    """deploy's mosquitto.conf with our paths; its listeners give way to the fixture's free port (the
    TLS one needs certificates), and per_listener_settings to the fixture's own first lines."""
    plugin = next(p for d in PLUGIN_DIRS for p in glob.glob(f"{d}/mosquitto_dynamic_security.so"))
    lines = []
    for line in (MOSQUITTO / "mosquitto.conf").read_text().splitlines():
        if line.startswith(
            ("listener", "certfile", "keyfile", "cafile", "tls_version", "per_listener_settings")
        ):
            continue
        line = line.replace("/usr/lib/mosquitto_dynamic_security.so", plugin)
        lines.append(line.replace("/mosquitto/config/", "{dir}/").replace("/mosquitto/data/", "{dir}/"))
    return "\n".join(lines)


@dataclass
class Site:
    broker: MosquittoServer
    passwords: dict[str, str]
    dir: Path

    def gateway_toml(self, cabinet: str) -> Path:
        return gateway_toml(self.dir, cabinet)


def start_site(tmp_path: Path, mosquitto_factory: MosquittoFactory, cabinets: tuple[str, ...]) -> Site:
    provision(tmp_path, "--cloud-password", CLOUD_PASSWORD)
    for cabinet in cabinets:
        provision(tmp_path, cabinet)
    passwords = {cabinet: password_of(gateway_toml(tmp_path, cabinet)) for cabinet in cabinets}
    passwords["cloud"] = CLOUD_PASSWORD
    files = {"dynamic-security.json": (tmp_path / "dynamic-security.json").read_text()}
    return Site(mosquitto_factory(shipped_conf(), files), passwords, tmp_path)
