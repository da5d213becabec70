"""What can be checked here of deploy/: the broker ACL on a real Mosquitto, manifests, provisioning."""

from __future__ import annotations

import time
from pathlib import Path

import yaml

from gateway.settings import load_settings
from tests.deploy.broker_clients import Probe
from tests.deploy.site import DEPLOY, Site, gateway_toml, provision


def test_a_cabinet_may_only_touch_its_own_topics(site: Site) -> None:
    cloud = Probe(site.broker, "cloud", site.passwords["cloud"], "vf-cloud-api-1")
    cloud.subscribe("$share/cloud/vf/v1/+/events", "vf/v1/+/status")
    one = Probe(site.broker, "XH-0001", site.passwords["XH-0001"], "XH-0001")
    two = Probe(site.broker, "XH-0002", site.passwords["XH-0002"], "XH-0002")
    assert two.subscribe("vf/v1/XH-0001/cmd") == [0x80]  # someone else's commands: refused
    assert one.subscribe("vf/v1/XH-0001/cmd") == [1]
    try:
        one.client.publish("vf/v1/XH-0001/events", b"{}", qos=1).wait_for_publish(5)
        two.client.publish("vf/v1/XH-0001/events", b"{}", qos=1).wait_for_publish(5)  # forged: dropped
        two.client.publish("vf/v1/XH-0001/status", b"{}", qos=1).wait_for_publish(5)
        cloud.client.publish("vf/v1/XH-0001/cmd", b"{}", qos=1).wait_for_publish(5)
        time.sleep(1.0)
        assert [topic for topic, _ in cloud.received] == ["vf/v1/XH-0001/events"]  # not the forged ones
        assert [topic for topic, _ in one.received] == ["vf/v1/XH-0001/cmd"]
        assert two.received == []
        intruder = Probe(site.broker, "XH-0001", "wrong password", "XH-0001")
        assert not intruder.accepted
        intruder.close()
    finally:
        for client in (cloud, one, two):
            client.close()


def test_provisioned_config_is_accepted_by_the_gateway(tmp_path: Path) -> None:
    provision(tmp_path, "XH-0042")
    settings = load_settings(gateway_toml(tmp_path, "XH-0042"))
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
                assert (DEPLOY / "compose" / source).exists() or source.endswith("certs"), source
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
