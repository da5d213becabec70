"""The MQTT connection (paho, MQTT 3.1.1): birth and last will, subscriptions, publishing.

paho's network thread only turns what arrives into `LinkEvent`s on the service's queue.
"""

from __future__ import annotations

import logging
import socket
import ssl
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import paho.mqtt.client as mqtt
import structlog
from paho.mqtt.enums import CallbackAPIVersion

from protocols.mqtt.broker_url import BrokerAddress
from protocols.mqtt.schemas import Status, encode
from protocols.mqtt.topics import Channel, topic

log = structlog.get_logger("gateway.mqtt")
NOT_UTF8 = "<topic not UTF-8>"


@dataclass(frozen=True)
class Connected:
    pass


@dataclass(frozen=True)
class Disconnected:
    reason: str


@dataclass(frozen=True)
class Inbound:
    topic: str
    payload: bytes


LinkEvent = Connected | Disconnected | Inbound


def new_client(
    client_id: str,
    *,
    username: str | None = None,
    password: str | None = None,
    tls_ca: str | None = None,
    tls_cert: str | None = None,
    tls_key: str | None = None,
    tls: bool = False,
    clean_session: bool = True,
) -> mqtt.Client:
    client = mqtt.Client(
        CallbackAPIVersion.VERSION2,
        client_id=client_id,
        protocol=mqtt.MQTTv311,
        clean_session=clean_session,
    )
    if username:
        client.username_pw_set(username, password)
    if tls or tls_ca:
        client.tls_set(
            ca_certs=tls_ca, certfile=tls_cert, keyfile=tls_key, tls_version=ssl.PROTOCOL_TLS_CLIENT
        )
    client.reconnect_delay_set(min_delay=1, max_delay=10)
    client.on_socket_open = _no_delay
    return client


def _no_delay(client: mqtt.Client, userdata: object, sock: object) -> None:
    """Send small packets at once: Nagle plus the peer's delayed ACK costs ~40 ms per QoS 1 exchange."""
    if isinstance(sock, socket.socket):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)


class MqttLink:
    def __init__(
        self,
        cabinet_id: str,
        url: str,
        sink: Callable[[LinkEvent], None],
        keepalive: int = 15,
        **auth: str | None,
    ) -> None:
        self._keepalive = keepalive
        self._cabinet = cabinet_id
        self._address = BrokerAddress.parse(url)
        self._sink = sink
        self._connected = False
        self._subscribed = False
        self._boards_known = False
        self._config_version: int | None = None  # the cloud's config we run, told in every birth
        # A persistent session: the broker keeps our subscriptions across reconnects.
        # The broker binds each cabinet's credential to this client id (deploy/provision_cabinet.py).
        self.client_id = cabinet_id
        self._client = new_client(self.client_id, tls=self._address.tls, clean_session=False, **auth)
        will = encode(Status(state="offline"))
        self._client.will_set(self.topic(Channel.STATUS), will, qos=1, retain=True)
        self._client.on_connect = self._on_connect
        self._client.on_disconnect = self._on_disconnect
        self._client.on_subscribe = self._on_subscribe
        self._client.on_message = self._on_message
        self._client.max_inflight_messages_set(100)
        # An exception escaping a callback would end paho's network thread: log it and go on.
        self._client.suppress_exceptions = True
        self._client.enable_logger(logging.getLogger("gateway.mqtt.paho"))

    def topic(self, channel: Channel) -> str:
        return topic(self._cabinet, channel)

    @property
    def connected(self) -> bool:
        return self._connected

    def start(self) -> None:
        self._client.connect_async(self._address.host, self._address.port, keepalive=self._keepalive)
        self._client.loop_start()

    def stop(self) -> None:
        if self._connected:
            # A clean goodbye: the will only fires on an unclean one.
            self.publish(Channel.STATUS, encode(Status(state="offline")), retain=True).wait_for_publish(2)
        self._client.disconnect()
        self._client.loop_stop()

    def publish(
        self, channel: Channel, payload: bytes, *, qos: int = 1, retain: bool = False
    ) -> mqtt.MQTTMessageInfo:
        return self._client.publish(self.topic(channel), payload, qos=qos, retain=retain)

    def _on_connect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        if getattr(reason, "is_failure", False):
            log.warning("broker refused", reason=str(reason))
            return
        self._connected = True
        self._subscribed = False
        # The birth message waits for the SUBACK and the boards (_announce): the cloud may send an
        # unlock as soon as it sees us online, and one that came before our subscription was active
        # would be lost, one before the lock board was found refused.
        client.subscribe([(self.topic(c), 1) for c in (Channel.CMD, Channel.CONFIG, Channel.EVACK)])
        log.info("connected", broker=f"{self._address.host}:{self._address.port}")
        self._sink(Connected())

    def _on_subscribe(
        self, client: mqtt.Client, userdata: object, mid: int, reasons: list[Any], props: object
    ) -> None:
        refused = [str(r) for r in reasons if getattr(r, "is_failure", False)]
        if refused:
            log.error("broker refused our subscriptions: staying silent", reasons=refused)
            return
        self._subscribed = True
        self._announce()

    def boards_known(self) -> None:
        """The bus has found the cabinet's boards: we can serve commands."""
        self._boards_known = True
        self._announce()

    def report_config(self, version: int | None) -> None:
        """The cloud's config now applied: the cloud stops re-sending it once our status says so."""
        self._config_version = version
        self._announce()

    def _announce(self) -> None:
        # Birth after every (re)connect: a restarted broker must not show a live cabinet offline.
        if self._connected and self._subscribed and self._boards_known:
            status = Status(state="online", config_version=self._config_version)
            self.publish(Channel.STATUS, encode(status), retain=True)

    def _on_disconnect(
        self, client: mqtt.Client, userdata: object, flags: object, reason: object, props: object
    ) -> None:
        self._connected = False
        log.warning("disconnected", reason=str(reason))
        self._sink(Disconnected(str(reason)))

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            name = message.topic
        except UnicodeDecodeError:
            name = NOT_UTF8  # the service drops and counts it like any other bad topic
        self._sink(Inbound(name, bytes(message.payload)))
