"""The embedded MQTT broker of the demo: amqtt (MQTT 3.1.1 only) on its own asyncio thread."""

from __future__ import annotations

import asyncio
import logging
import threading

from amqtt.broker import Broker

# amqtt logs every session state change at INFO; the cloud's own log says what matters.
for _name in ("amqtt", "transitions"):
    logging.getLogger(_name).setLevel(logging.WARNING)


class EmbeddedBroker:
    def __init__(self, port: int, host: str = "127.0.0.1") -> None:
        self.host, self.port = host, port
        self._loop = asyncio.new_event_loop()
        self._broker: Broker | None = None
        self._thread = threading.Thread(target=self._loop.run_forever, name="amqtt", daemon=True)

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> EmbeddedBroker:
        self._thread.start()
        config = {
            "listeners": {"default": {"type": "tcp", "bind": f"{self.host}:{self.port}"}},
            "plugins": {"amqtt.plugins.authentication.AnonymousAuthPlugin": {"allow_anonymous": True}},
        }

        async def start() -> None:
            self._broker = Broker(config)
            await self._broker.start()

        asyncio.run_coroutine_threadsafe(start(), self._loop).result(15)
        return self

    def stop(self) -> None:
        if self._broker is not None:
            asyncio.run_coroutine_threadsafe(self._broker.shutdown(), self._loop).result(15)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
