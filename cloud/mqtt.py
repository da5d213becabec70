"""The cloud's MQTT publisher: signed commands, retained configs, evacks."""

from __future__ import annotations

import threading
import uuid

import structlog
from pydantic import BaseModel

from gateway.mqtt_link import BrokerAddress, new_client
from protocols.mqtt.schemas import encode
from protocols.mqtt.topics import Channel, topic

log = structlog.get_logger("cloud.mqtt")


class Publisher:
    """One connection used by the API (and each ingest worker) to publish."""

    def __init__(
        self, url: str, name: str = "api", username: str | None = None, password: str | None = None
    ) -> None:
        address = BrokerAddress.parse(url)
        self._connected = threading.Event()
        client_id = f"vf-cloud-{name}-{uuid.uuid4().hex[:8]}"
        self._client = new_client(client_id, tls=address.tls, username=username, password=password)
        self._client.on_connect = lambda *a: self._connected.set()
        self._client.on_disconnect = lambda *a: self._connected.clear()
        self._client.connect_async(address.host, address.port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout: float = 10) -> bool:
        return self._connected.wait(timeout)

    def publish(self, cabinet: str, channel: Channel, payload: BaseModel, *, retain: bool = False) -> None:
        info = self._client.publish(topic(cabinet, channel), encode(payload), qos=1, retain=retain)
        if info.rc != 0:
            log.warning("publish failed", cabinet=cabinet, channel=str(channel), rc=info.rc)

    def close(self) -> None:
        # disconnect() first wakes paho's network thread; loop_stop() alone waits out its 1 s select.
        self._client.disconnect()
        self._client.loop_stop()
