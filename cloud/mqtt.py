"""The cloud's MQTT publisher: signed commands, retained configs, evacks."""

from __future__ import annotations

import socket
import ssl
import threading
import uuid

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion
from pydantic import BaseModel

from protocols.mqtt.broker_url import BrokerAddress
from protocols.mqtt.schemas import encode
from protocols.mqtt.topics import Channel, topic

log = structlog.get_logger("cloud.mqtt")


def new_client(
    client_id: str, address: BrokerAddress, username: str | None, password: str | None
) -> mqtt.Client:
    """A paho client of the cloud's (MQTT 3.1.1, as the embedded broker speaks nothing else)."""
    client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv311)
    if username:
        client.username_pw_set(username, password)
    if address.tls:
        client.tls_set(tls_version=ssl.PROTOCOL_TLS_CLIENT)
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    client.on_socket_open = _no_delay
    return client


def _no_delay(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Small packets leave at once: Nagle plus the peer's delayed ACK costs ~40 ms per QoS 1 exchange."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class NotDelivered(RuntimeError):
    """The broker has not confirmed the message."""


class Publisher:
    """One connection used by the API (and each ingest worker) to publish."""

    def __init__(
        self, url: str, name: str = "api", username: str | None = None, password: str | None = None
    ) -> None:
        address = BrokerAddress.parse(url)
        self._connected = threading.Event()
        client_id = f"vf-cloud-{name}-{uuid.uuid4().hex[:8]}"
        self._client = new_client(client_id, address, username, password)
        self._client.on_connect = lambda *a: self._connected.set()
        self._client.on_disconnect = lambda *a: self._connected.clear()
        self._client.connect_async(address.host, address.port, keepalive=30)
        self._client.loop_start()

    def wait_connected(self, timeout: float = 10) -> bool:
        return self._connected.wait(timeout)

    def publish(self, cabinet: str, channel: Channel, payload: BaseModel, *, retain: bool = False) -> None:
        """Fire and forget: for what the peer asks again if it is lost (evacks)."""
        info = self._client.publish(topic(cabinet, channel), encode(payload), qos=1, retain=retain)
        if info.rc != 0:
            log.warning("publish failed", cabinet=cabinet, channel=str(channel), rc=info.rc)

    def deliver(
        self, cabinet: str, channel: Channel, payload: BaseModel, *, retain: bool = False, timeout: float = 5
    ) -> None:
        """Publish and wait for the broker's PUBACK, or raise NotDelivered (the outbox tries again)."""
        if not self._connected.is_set():
            # paho would queue it and send it on reconnect: a second copy beside our retry.
            raise NotDelivered("not connected to the broker")
        info = self._client.publish(topic(cabinet, channel), encode(payload), qos=1, retain=retain)
        try:
            info.wait_for_publish(timeout)
        except (RuntimeError, ValueError) as exc:
            raise NotDelivered(str(exc)) from exc
        if not info.is_published():
            raise NotDelivered(f"no PUBACK within {timeout} s")

    def close(self) -> None:
        # disconnect() first wakes paho's network thread; loop_stop() alone waits out its 1 s select.
        self._client.disconnect()
        self._client.loop_stop()
