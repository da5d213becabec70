"""What can be checked here of deploy/: the broker ACL on a real Mosquitto, manifests, provisioning."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import paho.mqtt.client as mqtt
import pytest
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from gateway.settings import load_settings
from tests.servers import MosquittoServer

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


@pytest.fixture
def site_broker(tmp_path: Path, mosquitto_factory: Any) -> tuple[MosquittoServer, dict[str, str]]:
    """Mosquitto with deploy/'s ACL and passwords from the provisioning script (plain listener)."""
    passwords = {cabinet: password_of(provision(tmp_path, cabinet)) for cabinet in ("XH-0001", "XH-0002")}
    subprocess.run(["mosquitto_passwd", "-b", str(tmp_path / "passwd"), "cloud", "cloud-secret"], check=True)
    passwords["cloud"] = "cloud-secret"
    # deploy's config minus its listeners (the TLS one needs certificates), with our paths.
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
    return broker, passwords


class Client:
    def __init__(self, broker: MosquittoServer, user: str, password: str) -> None:
        self.received: list[str] = []
        self.connected = threading.Event()
        self.refused = False
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
        self.client.username_pw_set(user, password)
        self.client.on_message = lambda c, u, m: self.received.append(m.topic)
        self.client.on_connect = self._on_connect
        self.client.connect("127.0.0.1", broker.port)
        self.client.loop_start()
        self.connected.wait(5)

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.refused = reason.is_failure
        self.connected.set()

    def close(self) -> None:
        self.client.loop_stop()
        self.client.disconnect()


def test_a_cabinet_may_only_touch_its_own_topics(site_broker: tuple[MosquittoServer, dict[str, str]]) -> None:
    broker, passwords = site_broker
    cloud = Client(broker, "cloud", passwords["cloud"])
    cloud.client.subscribe("$share/cloud/vf/v1/+/events", qos=1)
    cloud.client.subscribe("vf/v1/+/status", qos=1)
    one = Client(broker, "XH-0001", passwords["XH-0001"])
    two = Client(broker, "XH-0002", passwords["XH-0002"])
    two.client.subscribe("vf/v1/XH-0001/cmd", qos=1)  # someone else's commands: never delivered
    one.client.subscribe("vf/v1/XH-0001/cmd", qos=1)
    time.sleep(0.5)
    try:
        one.client.publish("vf/v1/XH-0001/events", b"{}", qos=1).wait_for_publish(5)
        two.client.publish("vf/v1/XH-0001/events", b"{}", qos=1).wait_for_publish(5)  # forged: dropped
        two.client.publish("vf/v1/XH-0001/status", b"{}", qos=1).wait_for_publish(5)
        cloud.client.publish("vf/v1/XH-0001/cmd", b"{}", qos=1).wait_for_publish(5)
        time.sleep(1.0)
        assert cloud.received == ["vf/v1/XH-0001/events"]  # one, not the forged copy, no forged status
        assert one.received == ["vf/v1/XH-0001/cmd"]
        assert two.received == []
        intruder = Client(broker, "XH-0001", "wrong password")
        assert intruder.refused
        intruder.close()
    finally:
        for client in (cloud, one, two):
            client.close()


def test_provisioned_config_is_accepted_by_the_gateway(tmp_path: Path) -> None:
    settings = load_settings(provision(tmp_path, "XH-0042"))
    assert (settings.cabinet_id, settings.username, settings.serial) == (
        "XH-0042",
        "XH-0042",
        "/dev/vendfleet-bus",
    )
    assert load_settings(DEPLOY / "gateway" / "gateway.toml.example").cabinet_id == "XH-0042"


def test_compose_file_is_consistent() -> None:
    compose = yaml.safe_load((DEPLOY / "compose" / "docker-compose.yml").read_text())
    services = compose["services"]
    assert {"mosquitto", "postgres", "influxdb", "grafana", "api", "ingest", "migrate"} <= set(services)
    for name, service in services.items():
        assert "image" in service or (DEPLOY.parent / service["build"]["dockerfile"]).exists(), name
        for volume in service.get("volumes", []):
            source = volume.split(":")[0]
            if source.startswith("."):
                assert (
                    (DEPLOY / "compose" / source).exists()
                    or source.endswith("passwd")
                    or source.endswith("certs")
                ), source
    assert (DEPLOY / "compose" / ".env.example").exists()


def test_kubernetes_manifests_parse_and_have_probes_and_resources() -> None:
    kustomization = yaml.safe_load((DEPLOY / "k8s" / "kustomization.yaml").read_text())
    for resource in kustomization["resources"]:
        for doc in yaml.safe_load_all((DEPLOY / "k8s" / resource).read_text()):
            if doc["kind"] in ("Deployment", "StatefulSet"):
                for container in doc["spec"]["template"]["spec"]["containers"]:
                    assert "resources" in container, doc["metadata"]["name"]
                    assert "readinessProbe" in container
                    assert "livenessProbe" in container


def test_grafana_dashboard_reads_what_the_cloud_writes() -> None:
    import json

    dashboard = json.loads((DEPLOY / "grafana" / "dashboards" / "fleet.json").read_text())
    queries = " ".join(t["query"] for p in dashboard["panels"] for t in p["targets"])
    for measurement in ("temperature", "door", "gateway", "weight"):
        assert f'r._measurement == "{measurement}"' in queries
    datasource = yaml.safe_load(
        (DEPLOY / "grafana" / "provisioning" / "datasources" / "influxdb.yaml").read_text()
    )
    assert datasource["datasources"][0]["uid"] == dashboard["panels"][0]["datasource"]["uid"]
