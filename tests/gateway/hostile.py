"""Helpers for the hostile-input tests: a raw MQTT publisher and the gateway's counters."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import httpx
import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion
from prometheus_client.parser import text_string_to_metric_families


@contextmanager
def publisher(port: int) -> Iterator[mqtt.Client]:
    """A bare client that publishes whatever a test hands it (the broker's ACL is not under test)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.connect("127.0.0.1", port)
    client.loop_start()
    try:
        yield client
    finally:
        client.loop_stop()
        client.disconnect()


def send(client: mqtt.Client, topic: str, payload: bytes, retain: bool = False) -> None:
    client.publish(topic, payload, qos=1, retain=retain).wait_for_publish(5)


def counters(metrics_port: int) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of the gateway's /metrics: (name, sorted labels) → value."""
    text = httpx.get(f"http://127.0.0.1:{metrics_port}/metrics").text
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


def total(metrics_port: int, name: str, **labels: str) -> float:
    """The sum of a counter over every label set that includes `labels`."""
    return sum(
        value
        for (sample, have), value in counters(metrics_port).items()
        if sample == f"{name}_total" and set(labels.items()) <= set(have)
    )
