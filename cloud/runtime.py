"""A whole cloud in one process: (embedded broker,) API server, ingest worker, config push."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass, field

import structlog
import uvicorn
from sqlalchemy import select
from sse_starlette.sse import AppStatus

from cloud.app import create_app
from cloud.broker import EmbeddedBroker
from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.migrate import upgrade
from cloud.db.models import Cabinet
from cloud.dispatcher import Dispatcher
from cloud.domain import cabinet_settings
from cloud.domain.fleet import publish_config
from cloud.influx import InfluxSink
from cloud.ingest.worker import IngestWorker
from cloud.settings import CloudSettings
from protocols.runtime import process
from protocols.runtime.shutdown import stop_together

log = structlog.get_logger("cloud")
BROKER_HOST = "127.0.0.1"
GRACEFUL_HTTP_S = 1  # seconds; uvicorn takes an int


def influx_sink(settings: CloudSettings) -> InfluxSink | None:
    """Raw telemetry goes to InfluxDB only when it is configured; the pages read SQL."""
    if not settings.influx_url:
        return None
    return InfluxSink(
        settings.influx_url, settings.influx_token or "", settings.influx_org, settings.influx_bucket
    )


def ingest_worker(
    context: CloudContext, mqtt_url: str, share_group: str | None, name: str = "ingest"
) -> IngestWorker:
    """An ingest worker wired from the context: `cloud serve` and `cloud ingest` run the same one."""
    return IngestWorker(
        mqtt_url=mqtt_url,
        factory=context.factory,
        share_group=share_group,
        command_ttl=context.signer.ttl * 2,
        name=name,
        influx=influx_sink(context.settings),
        username=context.settings.mqtt_username,
        password=context.settings.mqtt_password,
        batch_max=context.settings.ingest_batch_max,
    )


@dataclass
class CloudRuntime:
    settings: CloudSettings
    context: CloudContext | None = None
    broker: EmbeddedBroker | None = None
    ingest: IngestWorker | None = None
    dispatcher: Dispatcher | None = None
    server: uvicorn.Server | None = None
    _thread: threading.Thread | None = field(default=None, repr=False)

    @property
    def mqtt_url(self) -> str:
        return self.settings.mqtt or (self.broker.url if self.broker else "")

    @property
    def url(self) -> str:
        return f"http://{self.settings.host}:{self.settings.port}"

    def start(self) -> CloudRuntime:
        """Raises PortTaken (naming the address) before anything else starts if a port is taken."""
        sock = self._claim_ports()
        upgrade(self.settings.db)
        share = self.settings.share_group
        if self.settings.mqtt is None:
            self.broker = EmbeddedBroker(self.settings.embedded_mqtt_port, BROKER_HOST).start()
            share = None  # amqtt has no shared subscriptions
        self.context = CloudContext.build(self.settings, self.mqtt_url)
        self.ingest = ingest_worker(self.context, self.mqtt_url, share).start()
        self.context.workers.append(self.ingest)
        context = self.context
        dispatcher = Dispatcher(context.factory, context.publisher, context.payments)
        self.dispatcher = dispatcher.send_on_commit().start()
        self.context.workers.append(self.dispatcher)
        self.context.outbox_committed = self.dispatcher.wake
        self._start_server(sock)
        self.push_configs()
        process.started()
        log.info("cloud up", url=self.url, mqtt=self.mqtt_url, db=self.settings.db)
        return self

    def _claim_ports(self) -> socket.socket:
        """The HTTP socket, once the embedded broker's port is known to be free too."""
        sock = listen(self.settings.host, self.settings.port)
        self.settings.port = sock.getsockname()[1]
        if self.settings.mqtt is None:
            try:
                listen(BROKER_HOST, self.settings.embedded_mqtt_port).close()  # a clear error, not amqtt's
            except PortTaken:
                sock.close()
                raise
        return sock

    def _start_server(self, sock: socket.socket) -> None:
        assert self.context is not None
        config = uvicorn.Config(
            create_app(self.context),
            log_level="warning",
            lifespan="off",
            # Open streams (a resident following a visit) are cut after this, not waited for.
            timeout_graceful_shutdown=GRACEFUL_HTTP_S,
        )
        self.server = uvicorn.Server(config)
        self._thread = threading.Thread(target=self.server.run, kwargs={"sockets": [sock]}, daemon=True)
        self._thread.start()
        while not self.server.started and self._thread.is_alive():
            threading.Event().wait(0.02)

    def push_configs(self) -> None:
        """This cloud's fleet defaults in force, then every cabinet's signed config through the outbox
        (the broker may have lost its retained copy)."""
        assert self.context is not None
        with transaction(self.context.factory) as db:
            cabinet_settings.install_fleet_defaults(db, self.settings.fleet)
            for cabinet in db.scalars(select(Cabinet)):
                publish_config(db, cabinet, self.context.signer)
        self.context.outbox_committed()

    def stop(self) -> list[str]:
        """Within the stop budget: HTTP and ingest side by side, then the publisher and database,
        then the broker. Returns what had to be abandoned (see protocols.runtime.shutdown)."""
        context = self.context
        return stop_together(
            [self._stop_server, *(w.stop for w in (self.ingest, self.dispatcher) if w)],
            [context.close] if context else [],
            [self.broker.stop] if self.broker else [],
        )

    def _stop_server(self) -> None:
        if self.server and self._thread:
            # Open streams end now, as under uvicorn's own SIGTERM handler (not installed: uvicorn
            # runs in a thread here). The flag is process-wide and sse-starlette never resets it.
            AppStatus.should_exit = True
            try:
                self.server.should_exit = True
                self._thread.join()
            finally:
                AppStatus.should_exit = False


class PortTaken(RuntimeError):
    pass


def listen(host: str, port: int) -> socket.socket:
    """A listening socket on host:port, or PortTaken naming the address."""
    try:
        return tcp_listener(host, port)
    except OSError as exc:
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise PortTaken(f"cannot listen on {host}:{port}: {reason}") from exc


def tcp_listener(host: str, port: int) -> socket.socket:
    """Like socket.create_server, but saying IPPROTO_TCP: asyncio sets TCP_NODELAY only on connections
    accepted from such a socket, and without it every response waits ~40 ms for the client's delayed ACK."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host, port))
        sock.listen(socket.SOMAXCONN)
    except OSError:
        sock.close()
        raise
    return sock
