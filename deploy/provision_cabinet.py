"""Provision the site broker's users (the cloud, each cabinet) and a cabinet's gateway config.

Mosquitto's dynamic-security plugin holds the users and their roles in one JSON file:
- a cabinet connects only with its own id as client id (so it cannot take over, and kick off, another
  cabinet's connection), publishes only its outbound topics and subscribes only to its three inbound
  topics, literally (no wildcards, no `$share/…`: joining the cloud's shared subscription would deal
  other cabinets' events to it);
- the cloud user may read and write all of `vf/v1/` and join `$share/<group>/vf/v1/…`, under any
  client id (the API and every ingest worker connect at once).
Mosquitto's acl_file cannot say this: it grants every subscription and drops what it then must not
deliver (even a shared one, which is lost for the cloud), and it does not tie a user to a client id.

    python deploy/provision_cabinet.py --cloud-password "$VF_MQTT_PASSWORD" \\
        --dynsec deploy/compose/mosquitto/dynamic-security.json
    python deploy/provision_cabinet.py XH-0042 --dynsec deploy/compose/mosquitto/dynamic-security.json \\
        --mqtt mqtts://mqtt.example.cn:8883 --cloud-key var/keys/public.pem --out var/cabinets

Prints what to copy onto the cabinet's board (/etc/vendfleet/). Mosquitto reads the file when it
starts, as its own user: the file is 0600, so it must belong to that user (the compose image's
entrypoint chowns it; run this script as root then). Restart the broker after provisioning (gateways
reconnect; unacknowledged events are re-sent).
"""

from __future__ import annotations

import argparse
import base64
import hashlib
import json
import os
import re
import secrets
import shutil
from pathlib import Path
from typing import Any

CABINET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")  # as protocols/mqtt/topics.py: no /, + or #
CLOUD_USER = "cloud"
OUTBOUND = ("status", "telemetry", "events", "ack")  # gateway → cloud (protocols/mqtt/topics.py)
INBOUND = ("cmd", "config", "evack")  # cloud → gateway
# Every access not granted by a role is refused, with a SUBACK 0x80 (or v5 reason code 135).
DENY_BY_DEFAULT = {
    "publishClientSend": False,
    "publishClientReceive": False,
    "subscribe": False,
    "unsubscribe": True,
}
ITERATIONS = 101  # mosquitto_ctrl's own; the cabinets' passwords are random 192-bit tokens anyway

Json = dict[str, Any]


def acl(kind: str, topic: str) -> Json:
    return {"acltype": kind, "topic": topic, "allow": True}


def cabinet_role(cabinet_id: str) -> Json:
    own = f"vf/v1/{cabinet_id}"
    acls = [acl("publishClientSend", f"{own}/{channel}") for channel in OUTBOUND]
    for channel in INBOUND:
        acls += [acl("subscribeLiteral", f"{own}/{channel}"), acl("publishClientReceive", f"{own}/{channel}")]
    return {"rolename": f"cabinet-{cabinet_id}", "acls": acls}


def cloud_role() -> Json:
    return {
        "rolename": CLOUD_USER,
        "acls": [
            acl("publishClientSend", "vf/v1/#"),
            acl("publishClientReceive", "vf/v1/#"),
            acl("subscribePattern", "vf/v1/#"),
            acl("subscribePattern", "$share/+/vf/v1/#"),  # the plugin checks the whole $share filter
        ],
    }


def user(username: str, password: str, role: Json, clientid: str | None = None) -> Json:
    """A dynamic-security client: PBKDF2-SHA512 as the plugin stores it; `clientid` binds the id."""
    salt = os.urandom(12)
    digest = hashlib.pbkdf2_hmac("sha512", password.encode(), salt, ITERATIONS)
    entry: Json = {
        "username": username,
        "password": base64.b64encode(digest).decode(),
        "salt": base64.b64encode(salt).decode(),
        "iterations": ITERATIONS,
        "roles": [{"rolename": role["rolename"]}],
    }
    if clientid is not None:
        entry["clientid"] = clientid
    return entry


def put(dynsec: Path, entry: Json, role: Json) -> None:
    """Add or replace one user and its role in the plugin's file (created if missing)."""
    config: Json = (
        json.loads(dynsec.read_text())
        if dynsec.exists()
        else {"defaultACLAccess": DENY_BY_DEFAULT, "clients": [], "groups": [], "roles": []}
    )
    config["clients"] = [c for c in config["clients"] if c["username"] != entry["username"]] + [entry]
    config["roles"] = [r for r in config["roles"] if r["rolename"] != role["rolename"]] + [role]
    dynsec.parent.mkdir(parents=True, exist_ok=True)
    temporary = dynsec.with_suffix(".new")
    write_secret(temporary, json.dumps(config, indent=1) + "\n")
    temporary.replace(dynsec)  # the broker never reads half a file


def write_secret(path: Path, text: str) -> None:
    """Readable by its owner only, from the start."""
    path.unlink(missing_ok=True)
    path.touch(mode=0o600)
    path.write_text(text)


def gateway_toml(cabinet_id: str, mqtt: str, password: str) -> str:
    return f"""# vendfleet gateway of cabinet {cabinet_id} (read by vendfleet-gateway.service)
cabinet_id = "{cabinet_id}"
serial = "/dev/vendfleet-bus"  # the udev rule's stable name; /dev/serial/by-id/... works too
mqtt = "{mqtt}"
username = "{cabinet_id}"  # also the MQTT client id: the broker admits this user under no other
password = "{password}"
tls_ca = "/etc/vendfleet/ca.crt"
data_dir = "/var/lib/vendfleet-gateway"
cloud_key = "/etc/vendfleet/cloud-public.pem"
"""


def provision(cabinet_id: str, dynsec: Path, mqtt: str, cloud_key: Path, out: Path) -> Path:
    if not CABINET_ID.match(cabinet_id) or cabinet_id == CLOUD_USER:
        raise SystemExit(
            f"cabinet id {cabinet_id!r} must match {CABINET_ID.pattern} and not be {CLOUD_USER!r}"
        )
    password = secrets.token_urlsafe(24)
    role = cabinet_role(cabinet_id)
    put(dynsec, user(cabinet_id, password, role, clientid=cabinet_id), role)
    target = out / cabinet_id
    target.mkdir(parents=True, exist_ok=True)
    write_secret(target / "gateway.toml", gateway_toml(cabinet_id, mqtt, password))
    shutil.copy(cloud_key, target / "cloud-public.pem")
    return target


def set_cloud_password(dynsec: Path, password: str) -> None:
    role = cloud_role()
    put(dynsec, user(CLOUD_USER, password, role), role)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("cabinet_id", nargs="?", help="The cabinet to provision")
    parser.add_argument("--dynsec", type=Path, required=True, help="Mosquitto dynamic-security file")
    parser.add_argument(
        "--cloud-password", help=f"(Re)set the {CLOUD_USER!r} user's password (VF_MQTT_PASSWORD)"
    )
    parser.add_argument("--mqtt", help="Broker URL the cabinet uses")
    parser.add_argument("--cloud-key", type=Path, help="The cloud's command public key")
    parser.add_argument("--out", type=Path, default=Path("var/cabinets"))
    args = parser.parse_args()
    if args.cabinet_id is None and args.cloud_password is None:
        parser.error("give a cabinet id, --cloud-password, or both")
    if args.cloud_password is not None:
        set_cloud_password(args.dynsec, args.cloud_password)
        print(f"user {CLOUD_USER!r} set: give the cloud VF_MQTT_USERNAME={CLOUD_USER} and VF_MQTT_PASSWORD")
    if args.cabinet_id is not None:
        if args.mqtt is None or args.cloud_key is None:
            parser.error("a cabinet needs --mqtt and --cloud-key")
        target = provision(args.cabinet_id, args.dynsec, args.mqtt, args.cloud_key, args.out)
        print(f"copy {target}/gateway.toml and cloud-public.pem to /etc/vendfleet/ on {args.cabinet_id},")
        print("then: systemctl restart vendfleet-gateway")
    print("restart the broker to load the users: docker compose restart mosquitto")


if __name__ == "__main__":
    main()
