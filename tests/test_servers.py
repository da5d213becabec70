"""The fixtures start real servers that answer, and clean up after themselves."""

from __future__ import annotations

import subprocess
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path
from typing import TYPE_CHECKING, Any

import paho.mqtt.client as mqtt
import pytest
import sqlalchemy as sa
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS
from paho.mqtt.enums import CallbackAPIVersion
from paho.mqtt.reasoncodes import ReasonCode

from firmware_sim.demo.servers import (
    MosquittoFactory,
    MosquittoServer,
    PostgresServer,
    ServerError,
    VictoriaMetricsServer,
    port_open,
    require,
)

if TYPE_CHECKING:
    from playwright.sync_api import Page


def new_client(user: str | None = None, password: str | None = None) -> mqtt.Client:
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    if user:
        client.username_pw_set(user, password)
    return client


def round_trip(server: MosquittoServer, user: str | None = None, password: str | None = None) -> bytes:
    """Publish a QoS 1 message and receive it on a subscription to the same broker."""
    subscribed = threading.Event()
    got = threading.Event()
    received: list[bytes] = []

    def on_message(client: mqtt.Client, userdata: Any, message: mqtt.MQTTMessage) -> None:
        received.append(bytes(message.payload))
        got.set()

    sub = new_client(user, password)
    sub.on_message = on_message
    sub.on_connect = lambda client, *_: client.subscribe("t/#", qos=1)
    sub.on_subscribe = lambda *_: subscribed.set()
    sub.connect("127.0.0.1", server.port)
    sub.loop_start()
    pub = new_client(user, password)
    pub.connect("127.0.0.1", server.port)
    pub.loop_start()
    try:
        assert subscribed.wait(5), "no SUBACK"
        pub.publish("t/x", b"hello", qos=1).wait_for_publish(5)
        assert got.wait(5), "the message did not come back"
    finally:
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()
    return received[0]


def test_mosquitto_round_trip_and_restart_on_the_same_port(mosquitto: MosquittoServer) -> None:
    assert mosquitto.url == f"mqtt://127.0.0.1:{mosquitto.port}"
    assert round_trip(mosquitto) == b"hello"
    port = mosquitto.port
    mosquitto.stop()
    assert not port_open(port)
    mosquitto.start()
    assert mosquitto.port == port
    assert round_trip(mosquitto) == b"hello"
    mosquitto.restart()
    assert round_trip(mosquitto) == b"hello"


def test_mosquitto_factory_loads_extra_config_and_files(
    mosquitto_factory: MosquittoFactory, tmp_path: Path
) -> None:
    subprocess.run(["mosquitto_passwd", "-b", "-c", str(tmp_path / "passwd"), "alice", "secret"], check=True)
    broker = mosquitto_factory(
        "allow_anonymous false\npassword_file {dir}/passwd\nacl_file {dir}/acl\n",
        {"passwd": (tmp_path / "passwd").read_text(), "acl": "user alice\ntopic readwrite t/#\n"},
    )
    assert round_trip(broker, "alice", "secret") == b"hello"
    refused = threading.Event()

    def on_connect(client: mqtt.Client, userdata: Any, flags: Any, reason: ReasonCode, props: Any) -> None:
        if reason.is_failure:
            refused.set()

    client = new_client()
    client.on_connect = on_connect
    client.connect("127.0.0.1", broker.port)  # anonymous
    client.loop_start()
    try:
        assert refused.wait(5)
    finally:
        client.loop_stop()
        client.disconnect()


def test_db_url_on_both_backends(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    try:
        with engine.begin() as conn:
            conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
            conn.execute(sa.text("INSERT INTO t VALUES (1, '柜子')"))
        with engine.connect() as conn:
            assert conn.execute(sa.text("SELECT name FROM t")).scalar_one() == "柜子"
    finally:
        engine.dispose()


@pytest.mark.postgres
def test_pg_url_is_a_fresh_database_dropped_afterwards(postgres: PostgresServer, pg_url: str) -> None:
    assert postgres.url == f"postgresql+psycopg://postgres@127.0.0.1:{postgres.port}/postgres"
    engine = sa.create_engine(pg_url)
    try:
        with engine.connect() as conn:
            tables = conn.execute(sa.text("SELECT count(*) FROM pg_tables WHERE schemaname = 'public'"))
            assert tables.scalar_one() == 0
    finally:
        engine.dispose()
    # A connection left open does not stop the drop.
    leaked = sa.create_engine(pg_url)
    try:
        with leaked.connect() as conn:
            name = conn.execute(sa.text("SELECT current_database()")).scalar_one()
            postgres.drop_database(name)
    except sa.exc.OperationalError:
        pass  # our connection was terminated by the drop
    finally:
        leaked.dispose()
    admin = sa.create_engine(postgres.url)
    try:
        with admin.connect() as conn:
            found = conn.execute(sa.text("SELECT 1 FROM pg_database WHERE datname = :n"), {"n": name})
            assert found.first() is None
    finally:
        admin.dispose()


def test_victoria_accepts_influx_writes(victoria: VictoriaMetricsServer) -> None:
    with InfluxDBClient(url=victoria.url, token="x", org="o") as client:
        client.write_api(write_options=SYNCHRONOUS).write("b", record="cabinet,cabinet=CAB-1 temp_c=4.5")
    victoria.flush()
    series = victoria.export('{__name__="cabinet_temp_c"}')
    assert series[0]["metric"]["cabinet"] == "CAB-1"
    assert series[0]["values"] == [4.5]


def test_a_missing_binary_names_the_debian_package() -> None:
    with pytest.raises(ServerError, match="install the Debian package 'vf-nope'"):
        require("vf-no-such-binary", "vf-nope")


def test_a_failed_start_shows_the_log_tail(mosquitto_factory: MosquittoFactory) -> None:
    with pytest.raises(ServerError, match="(?s)exited during startup.*no_such_option"):
        mosquitto_factory("no_such_option 1\n")


@pytest.fixture
def html_server() -> Iterator[str]:
    """A one-page web site on a free port."""
    html = """<!doctype html><meta charset="utf-8">
        <button onclick="this.textContent='好'">go</button>""".encode()

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(html)))
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass  # keep the test output clean

    server = HTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_port}/"
    server.shutdown()
    server.server_close()
    thread.join()


@pytest.mark.browser
def test_chromium_clicks_and_screenshots(page: Page, html_server: str, tmp_path: Path) -> None:
    page.goto(html_server)
    assert page.viewport_size == {"width": 390, "height": 844}
    page.click("button")
    assert page.text_content("button") == "好"
    page.screenshot(path=str(tmp_path / "shot.png"))
    assert (tmp_path / "shot.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
