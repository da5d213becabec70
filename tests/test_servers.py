"""The fixtures start real servers that answer."""

from __future__ import annotations

import threading
from http.server import BaseHTTPRequestHandler, HTTPServer
from pathlib import Path

import paho.mqtt.client as mqtt
import sqlalchemy as sa
from influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import SYNCHRONOUS

from tests.servers import MosquittoServer, VictoriaMetricsServer


def round_trip(server: MosquittoServer) -> bytes:
    got = threading.Event()
    received: list[bytes] = []
    sub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    sub.on_message = lambda c, u, m: (received.append(m.payload), got.set())
    sub.connect("127.0.0.1", server.port)
    sub.subscribe("t/#", qos=1)
    sub.loop_start()
    pub = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    pub.connect("127.0.0.1", server.port)
    pub.loop_start()
    try:
        for _ in range(50):  # the subscription may not be active yet
            pub.publish("t/x", b"hello", qos=1).wait_for_publish(5)
            if got.wait(0.1):
                break
    finally:
        for c in (pub, sub):
            c.loop_stop()
            c.disconnect()
    return received[0]


def test_mosquitto_round_trip_and_restart(mosquitto: MosquittoServer) -> None:
    assert round_trip(mosquitto) == b"hello"
    port = mosquitto.port
    mosquitto.restart()
    assert mosquitto.port == port
    assert round_trip(mosquitto) == b"hello"


def test_db_url_on_both_backends(db_url: str) -> None:
    engine = sa.create_engine(db_url)
    with engine.begin() as conn:
        conn.execute(sa.text("CREATE TABLE t (id INTEGER PRIMARY KEY, name TEXT)"))
        conn.execute(sa.text("INSERT INTO t VALUES (1, '柜子')"))
        assert conn.execute(sa.text("SELECT name FROM t")).scalar_one() == "柜子"
    engine.dispose()


def test_victoria_accepts_influx_writes(victoria: VictoriaMetricsServer) -> None:
    with InfluxDBClient(url=victoria.url, token="t", org="o") as client:
        client.write_api(write_options=SYNCHRONOUS).write("b", record="cabinet,cabinet=CAB-1 temp_c=4.5")
    series = victoria.export('{__name__="cabinet_temp_c"}')
    assert series[0]["metric"]["cabinet"] == "CAB-1"
    assert series[0]["values"] == [4.5]


def test_chromium_clicks_and_screenshots(page: object, tmp_path: Path) -> None:
    html = (
        b'<!doctype html><meta charset="utf-8"><button onclick="this.textContent=\'\xe5\xa5\xbd\'">'
        b"go</button>"
    )

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:  # noqa: N802
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.end_headers()
            self.wfile.write(html)

        def log_message(self, *args: object) -> None:
            pass

    server = HTTPServer(("127.0.0.1", 0), Handler)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        page.goto(f"http://127.0.0.1:{server.server_port}/")  # type: ignore[attr-defined]
        page.click("button")  # type: ignore[attr-defined]
        assert page.text_content("button") == "好"  # type: ignore[attr-defined]
        page.screenshot(path=str(tmp_path / "shot.png"))  # type: ignore[attr-defined]
        assert (tmp_path / "shot.png").stat().st_size > 0
    finally:
        server.shutdown()
        server.server_close()
