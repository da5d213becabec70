"""Provision a cabinet: a broker credential, the ACL covers it by name, a gateway config file.

    python deploy/provision_cabinet.py XH-0042 --passwd deploy/compose/mosquitto/passwd \\
        --mqtt mqtts://mqtt.example.cn:8883 --cloud-key var/keys/public.pem --out var/cabinets

Prints what to copy onto the cabinet's board (/etc/vendfleet/).
"""

from __future__ import annotations

import argparse
import re
import secrets
import shutil
import subprocess
from pathlib import Path

CABINET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


def gateway_toml(cabinet_id: str, mqtt: str, password: str) -> str:
    return f"""# vendfleet gateway of cabinet {cabinet_id} (read by vendfleet-gateway.service)
cabinet_id = "{cabinet_id}"
serial = "/dev/vendfleet-bus"  # the udev rule's stable name; /dev/serial/by-id/... works too
mqtt = "{mqtt}"
username = "{cabinet_id}"
password = "{password}"
tls_ca = "/etc/vendfleet/ca.crt"
data_dir = "/var/lib/vendfleet-gateway"
cloud_key = "/etc/vendfleet/cloud-public.pem"
"""


def provision(cabinet_id: str, passwd: Path, mqtt: str, cloud_key: Path, out: Path) -> Path:
    if not CABINET_ID.match(cabinet_id):
        raise SystemExit(f"cabinet id {cabinet_id!r} must match {CABINET_ID.pattern}")
    password = secrets.token_urlsafe(24)
    passwd.parent.mkdir(parents=True, exist_ok=True)
    flags = ["-b"] if passwd.exists() else ["-c", "-b"]
    subprocess.run(["mosquitto_passwd", *flags, str(passwd), cabinet_id, password], check=True)
    target = out / cabinet_id
    target.mkdir(parents=True, exist_ok=True)
    (target / "gateway.toml").write_text(gateway_toml(cabinet_id, mqtt, password))
    (target / "gateway.toml").chmod(0o600)
    shutil.copy(cloud_key, target / "cloud-public.pem")
    return target


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cabinet_id")
    parser.add_argument("--passwd", type=Path, required=True, help="Mosquitto password file")
    parser.add_argument("--mqtt", required=True, help="Broker URL the cabinet uses")
    parser.add_argument("--cloud-key", type=Path, required=True, help="The cloud's command public key")
    parser.add_argument("--out", type=Path, default=Path("var/cabinets"))
    args = parser.parse_args()
    target = provision(args.cabinet_id, args.passwd, args.mqtt, args.cloud_key, args.out)
    print(f"copy {target}/gateway.toml and cloud-public.pem to /etc/vendfleet/ on cabinet {args.cabinet_id},")
    print("then: systemctl restart vendfleet-gateway  (and reload mosquitto for the new password)")


if __name__ == "__main__":
    main()
