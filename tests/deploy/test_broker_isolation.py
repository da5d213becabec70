"""One cabinet's broker credential cannot hurt another cabinet (issue #10, defect 6).

A real Mosquitto runs deploy/'s shipped configuration with credentials from the provisioning script;
cabinet XH-0001 is the provisioned gateway's own MQTT link, XH-0002 is an attacker holding only its own
credential, and the cloud is two shared-subscription workers with the cloud's credential.
"""

from __future__ import annotations

import importlib.util
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import paho.mqtt.client as mqtt
import pytest
from pydantic import ValidationError

from cloud.ingest.worker import SUBSCRIBED
from gateway.mqtt_link import Connected, Disconnected, LinkEvent, MqttLink
from gateway.settings import load_settings
from protocols.mqtt.topics import Channel, fleet_filter, parse_topic
from tests.deploy.broker_clients import Probe
from tests.deploy.site import DEPLOY, Site, gateway_toml, password_of, provision
from tests.harness import wait_until

A, B = "XH-0001", "XH-0002"
REFUSED = 0x80


class Gateway:
    """Cabinet A as deployed: the gateway's MqttLink with the provisioned settings."""

    def __init__(self, site: Site) -> None:
        settings = load_settings(site.gateway_toml(A), mqtt=site.broker.url)
        self.events: list[LinkEvent] = []
        self.link = MqttLink(
            settings.cabinet_id,
            settings.mqtt,
            self.events.append,
            username=settings.username,
            password=settings.password,
        )
        self.link.start()
        wait_until(lambda: self.link.connected, 5, "cabinet A connected")

    @property
    def disconnects(self) -> int:
        return sum(isinstance(event, Disconnected) for event in self.events)

    def publish_events(self, count: int, start: int = 0) -> list[bytes]:
        payloads = [f'{{"n": {n}}}'.encode() for n in range(start, start + count)]
        for payload in payloads:
            self.link.publish(Channel.EVENTS, payload).wait_for_publish(5)
        return payloads


@pytest.fixture
def gateway(site: Site) -> Iterator[Gateway]:
    gateway = Gateway(site)
    yield gateway
    gateway.link.stop()


@pytest.fixture
def workers(site: Site) -> Iterator[list[Probe]]:
    """Two ingest workers with the cloud's user and the real worker's subscriptions (events shared)."""
    filters = [fleet_filter(channel, "cloud") for channel in SUBSCRIBED]
    workers = [Probe(site.broker, "cloud", site.passwords["cloud"], f"vf-cloud-ingest-{n}") for n in (1, 2)]
    for worker in workers:
        assert worker.subscribe(*filters) == [1] * len(filters)
    yield workers
    for worker in workers:
        worker.close()


def events_of(worker: Probe) -> list[bytes]:
    return [p for topic, p in list(worker.received) if parse_topic(topic).channel == Channel.EVENTS]


def received_by(workers: list[Probe]) -> list[bytes]:
    """Every event payload the workers got, sorted: a lost or doubled one shows."""
    return sorted(payload for worker in workers for payload in events_of(worker))


def test_another_cabinets_client_id_does_not_disconnect_the_cabinet(
    site: Site, gateway: Gateway, workers: list[Probe]
) -> None:
    sent = gateway.publish_events(20)
    # B reconnects with A's client id in a loop (paho retries every 0.1-0.2 s), as in the report.
    intruder = Probe(site.broker, B, site.passwords[B], client_id=gateway.link.client_id)
    try:
        deadline = time.monotonic() + 3
        n = 20
        while time.monotonic() < deadline:
            sent += gateway.publish_events(5, start=n)
            n += 5
            time.sleep(0.05)
        assert not any(code == 0 for code in intruder.connects), "B was let in under A's client id"
        assert len(intruder.connects) >= 3, "the intruder kept trying"
        assert gateway.disconnects == 0
        assert gateway.link.connected
        assert sum(isinstance(event, Connected) for event in gateway.events) == 1
        wait_until(lambda: len(received_by(workers)) >= len(sent), 5, "every event of A at the cloud")
        assert received_by(workers) == sorted(sent)
    finally:
        intruder.close()


def test_a_cabinet_cannot_take_any_other_client_id(site: Site) -> None:
    for client_id in (A, "vf-cloud-api-1", "", "XH-0002-2"):
        probe = Probe(site.broker, B, site.passwords[B], client_id=client_id)
        try:
            assert not probe.accepted, client_id
        finally:
            probe.close()
    own = Probe(site.broker, B, site.passwords[B], client_id=B)
    try:
        assert own.accepted
    finally:
        own.close()


SNOOPING = (
    "$share/cloud/vf/v1/+/events",
    f"$share/cloud/vf/v1/{A}/events",
    "$share/evil/vf/v1/+/events",
    f"$share/cloud/vf/v1/{B}/events",
    f"vf/v1/{A}/#",
    f"vf/v1/{A}/events",
    f"vf/v1/{A}/cmd",
    "vf/v1/#",
    "vf/v1/+/events",
    f"vf/v1/{B}/#",  # even its own subtree by wildcard: only the three literal inbound topics
    "#",
    "$SYS/#",
)


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt311", "mqtt5"])
def test_a_cabinet_cannot_join_the_clouds_shared_subscription_or_read_others(
    site: Site, gateway: Gateway, workers: list[Probe], protocol: int
) -> None:
    intruder = Probe(site.broker, B, site.passwords[B], client_id=B, protocol=protocol)
    try:
        codes = intruder.subscribe(*SNOOPING)
        assert all(code >= REFUSED for code in codes), dict(zip(SNOOPING, codes, strict=True))
        sent = gateway.publish_events(200)
        wait_until(lambda: len(received_by(workers)) >= len(sent), 10, "every event of A at the cloud")
        time.sleep(0.3)
        assert received_by(workers) == sorted(sent)  # none lost, none twice
        assert all(events_of(worker) for worker in workers), "both workers share the events"
        assert intruder.received == []
    finally:
        intruder.close()


def test_a_cabinet_gets_what_the_cloud_sends_it_and_may_subscribe_to_nothing_else(site: Site) -> None:
    cloud = Probe(site.broker, "cloud", site.passwords["cloud"], "vf-cloud-api-1")
    inbound = [f"vf/v1/{B}/{channel}" for channel in ("cmd", "config", "evack")]
    cloud.client.publish(inbound[1], b"config", qos=1, retain=True).wait_for_publish(5)  # retained
    own = Probe(site.broker, B, site.passwords[B], client_id=B)
    try:
        assert own.subscribe(*inbound) == [1, 1, 1]
        for name in (inbound[0], inbound[2]):
            cloud.client.publish(name, b"from the cloud", qos=1).wait_for_publish(5)
        wait_until(lambda: len(own.received) == 3, 5, "cmd, config and evack at the cabinet")
        assert sorted(topic for topic, _ in own.received) == sorted(inbound)
        outbound = [f"vf/v1/{B}/{channel}" for channel in ("events", "status", "ack", "telemetry")]
        assert all(code >= REFUSED for code in own.subscribe(*outbound))
    finally:
        own.close()
        cloud.close()


FORGED = [
    f"vf/v1/{A}/{channel}" for channel in ("events", "status", "ack", "telemetry", "cmd", "config", "evack")
]
FORGED += [f"vf/v1/{B}/{channel}" for channel in ("cmd", "config", "evack")]  # only the cloud sends these


@pytest.mark.parametrize("protocol", [mqtt.MQTTv311, mqtt.MQTTv5], ids=["mqtt311", "mqtt5"])
def test_a_cabinet_publishing_on_others_topics_reaches_nobody(
    site: Site, gateway: Gateway, protocol: int
) -> None:
    watcher = Probe(site.broker, "cloud", site.passwords["cloud"], "vf-cloud-watch")
    watcher.subscribe("vf/v1/#")
    intruder = Probe(site.broker, B, site.passwords[B], client_id=B, protocol=protocol)
    intruder.subscribe(*(f"vf/v1/{B}/{channel}" for channel in ("cmd", "config", "evack")))
    time.sleep(0.2)
    watcher.received.clear()  # A's retained status
    events_before = len(gateway.events)
    try:
        for forged in FORGED:
            intruder.client.publish(forged, b'{"forged": true}', qos=1, retain=True).wait_for_publish(5)
        time.sleep(0.5)
        assert watcher.received == []
        assert len(gateway.events) == events_before  # A's link got no cmd, config or evack
        assert intruder.received == []  # nor B's own gateway a forged command of B's
        if protocol == mqtt.MQTTv5:
            assert intruder.puback_codes == [135] * len(FORGED)  # "not authorized", said plainly
        late = Probe(site.broker, "cloud", site.passwords["cloud"], "vf-cloud-late")
        late.subscribe("vf/v1/#")
        time.sleep(0.3)
        assert not [topic for topic, payload in late.received if b"forged" in payload]  # nothing retained
        late.close()
        # A is still fine and still heard.
        assert gateway.link.connected
        assert gateway.disconnects == 0
    finally:
        intruder.close()
        watcher.close()


def test_reprovisioning_a_cabinet_retires_its_old_password(site: Site) -> None:
    old = site.passwords[A]
    provision(site.dir, A)
    new = password_of(site.gateway_toml(A))
    (site.broker.dir / "dynamic-security.json").write_text((site.dir / "dynamic-security.json").read_text())
    site.broker.restart()  # the broker reads its users when it starts
    for user, password, admitted in ((A, old, False), (A, new, True), (B, site.passwords[B], True)):
        probe = Probe(site.broker, user, password, client_id=user)
        try:
            assert probe.accepted == admitted, (user, password == old)
        finally:
            probe.close()


@pytest.mark.parametrize("cabinet", ["cloud", "XH/0001", "+", "#", "XH 1", "", "x" * 65])
def test_provisioning_refuses_ids_that_are_not_a_cabinets(tmp_path: Path, cabinet: str) -> None:
    with pytest.raises(subprocess.CalledProcessError):
        provision(tmp_path, cabinet)
    assert not (tmp_path / "dynamic-security.json").exists()


def test_cabinet_roles_cover_every_channel_once() -> None:
    spec = importlib.util.spec_from_file_location("provision_cabinet", DEPLOY / "provision_cabinet.py")
    assert spec is not None
    assert spec.loader is not None
    script = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(script)
    assert sorted(script.OUTBOUND + script.INBOUND) == sorted(Channel)
    assert set(script.INBOUND) == {Channel.CMD, Channel.CONFIG, Channel.EVACK}  # only the cloud sends these


def test_gateway_refuses_a_username_that_is_not_its_cabinet(tmp_path: Path) -> None:
    provision(tmp_path, A)
    with pytest.raises(ValidationError, match="must be the cabinet id"):
        load_settings(gateway_toml(tmp_path, A), username=B)
