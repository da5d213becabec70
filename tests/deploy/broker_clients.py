"""Plain MQTT clients for probing a broker from outside: what each one was granted and received."""

from __future__ import annotations

import threading
from typing import Any

import paho.mqtt.client as mqtt
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.demo.servers import MosquittoServer
from tests.harness import wait_until


class Probe:
    """One connection with a user name and client id of our choosing (MQTT 3.1.1 unless told)."""

    def __init__(
        self,
        broker: MosquittoServer,
        user: str,
        password: str,
        client_id: str = "",
        protocol: int = mqtt.MQTTv311,
    ) -> None:
        self.received: list[tuple[str, bytes]] = []
        self.granted: list[int] = []  # SUBACK codes, in order (128 = refused)
        self.puback_codes: list[int] = []
        self.connects: list[int] = []  # CONNACK codes of every attempt (0 = accepted)
        self.disconnects = 0
        self._lock = threading.Lock()
        self.client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=client_id, protocol=protocol)
        self.client.username_pw_set(user, password)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self.client.on_message = self._on_message
        self.client.on_subscribe = self._on_subscribe
        self.client.on_publish = self._on_publish
        self.client.reconnect_delay_set(0.1, 0.2)
        self.client.connect_async("127.0.0.1", broker.port, keepalive=10)
        self.client.loop_start()
        wait_until(lambda: self.connects, 5, f"{user}'s CONNACK")

    @property
    def accepted(self) -> bool:
        return self.connects[-1] == 0

    def subscribe(self, *filters: str) -> list[int]:
        """Subscribe and wait for the SUBACK; returns its codes."""
        before = len(self.granted)
        self.client.subscribe([(f, 1) for f in filters])
        wait_until(lambda: len(self.granted) >= before + len(filters), 5, "SUBACK")
        return self.granted[before:]

    def close(self) -> None:
        self.client.disconnect()
        self.client.loop_stop()

    def _on_connect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.connects.append(reason.value)

    def _on_disconnect(self, client: Any, userdata: Any, flags: Any, reason: Any, props: Any) -> None:
        self.disconnects += 1

    def _on_message(self, client: Any, userdata: Any, message: mqtt.MQTTMessage) -> None:
        with self._lock:
            self.received.append((message.topic, bytes(message.payload)))

    def _on_subscribe(self, client: Any, userdata: Any, mid: int, codes: Any, props: Any) -> None:
        self.granted.extend(code.value for code in codes)

    def _on_publish(self, client: Any, userdata: Any, mid: int, reason: Any, props: Any) -> None:
        self.puback_codes.append(reason.value)
