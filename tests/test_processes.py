"""Every long-running `vendfleet` process stops cleanly on SIGTERM and SIGINT, as systemd and
Kubernetes stop it: within 2 s, exit code 0, its children terminated and reaped. The demo
refuses to start on a taken port instead of talking to whatever server answers there."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import httpx
import paho.mqtt.client as mqtt
import psutil
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select

from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.models import Cabinet, ProcessedEvent, Session, User
from firmware_sim.demo.run import FIXTURE as DEMO_FIXTURE
from firmware_sim.demo.servers import MosquittoServer, free_port
from protocols.mqtt.schemas import DoorEvent, EvAck, encode, parse
from protocols.mqtt.topics import Channel, topic
from tests.harness import FAST_GATEWAY_ENV, wait_until, write_keys
from tests.sim_fixture import VENDFLEET, sim_cabinet

STOP_BUDGET_S = 2.0
STARTUP_S = 60  # a loaded 2-core machine takes seconds just to import a `vendfleet` command
STOP_SIGNALS = [signal.SIGTERM, signal.SIGINT]


@contextmanager
def started(
    argv: list[str], log: Path, env: dict[str, str] | None = None
) -> Iterator[subprocess.Popen[bytes]]:
    with log.open("ab") as out:
        proc = subprocess.Popen([VENDFLEET, *argv], stdout=out, stderr=subprocess.STDOUT, env=env)
    try:
        yield proc
    finally:
        for leftover in [*_family(proc.pid), proc.pid]:
            try:
                os.kill(leftover, signal.SIGKILL)
            except ProcessLookupError:
                pass
        proc.wait()


def _family(pid: int) -> list[int]:
    try:
        return [p.pid for p in psutil.Process(pid).children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def _alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def assert_stops_cleanly(proc: subprocess.Popen[bytes], sig: int, log: Path, children: int = 0) -> None:
    """Send `sig`; the process and every descendant are gone within the budget, exit code 0."""
    family = _family(proc.pid)
    assert len(family) >= children, f"expected {children} children, found {family}"
    sent = time.monotonic()
    proc.send_signal(sig)
    try:
        code = proc.wait(STOP_BUDGET_S + 3)
    except subprocess.TimeoutExpired:
        pytest.fail(f"still running {STOP_BUDGET_S + 3}s after {sig!r}:\n{log.read_text()[-3000:]}")
    took = time.monotonic() - sent
    left = [pid for pid in family if _alive(pid)]
    assert took < STOP_BUDGET_S, f"took {took:.2f}s to stop after {sig!r}:\n{log.read_text()[-3000:]}"
    assert code == 0, f"exit code {code} after {sig!r}:\n{log.read_text()[-3000:]}"
    assert "Traceback" not in log.read_text(), log.read_text()[-3000:]
    assert not left, f"children still running after {sig!r}: {left}"


def http_ok(url: str) -> bool:
    try:
        return httpx.get(url, timeout=1).status_code == 200
    except httpx.HTTPError:
        return False


# -- the simulator ---------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_simulator_stops_on_signal(tmp_path: Path, sig: int) -> None:
    port = free_port()
    argv = ["sim", "cabinet", "--layout", "chilled-4shelf", "--control", f"127.0.0.1:{port}"]
    with started(argv, tmp_path / "sim.log") as proc:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/state"), STARTUP_S, "simulator control")
        # An open keep-alive connection must not hold the server up.
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            client.get("/state")
            assert_stops_cleanly(proc, sig, tmp_path / "sim.log")


def test_simulator_on_a_taken_port_fails_with_one_clear_line() -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        argv = [VENDFLEET, "sim", "cabinet", "--layout", "chilled-4shelf", "--control", f"127.0.0.1:{port}"]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"vendfleet sim cabinet: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


# -- the gateway -----------------------------------------------------------------------------------


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_gateway_stops_on_signal(tmp_path: Path, mosquitto: MosquittoServer, sig: int) -> None:
    write_keys(tmp_path / "keys")
    log = tmp_path / "gateway.log"
    with sim_cabinet() as sim:
        argv = ["gateway", "run", "--cabinet-id", "CAB-P", "--serial", sim.serial, "--mqtt", mosquitto.url]
        argv += ["--data-dir", str(tmp_path / "gw"), "--cloud-key", str(tmp_path / "keys" / "public.pem")]
        env = {**os.environ, **FAST_GATEWAY_ENV}
        with started(argv, log, env) as proc:
            wait_until(lambda: b"connected" in log.read_bytes(), STARTUP_S, "gateway connected")
            time.sleep(0.5)  # polling the boards
            assert_stops_cleanly(proc, sig, log)


# -- the cloud -------------------------------------------------------------------------------------


def _serve_argv(tmp_path: Path, port: int, mqtt: list[str]) -> list[str]:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    return ["cloud", "serve", "--db", db, "--port", str(port), "--key-dir", str(tmp_path / "keys"), *mqtt]


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_cloud_serve_with_embedded_broker_stops_on_signal(tmp_path: Path, sig: int) -> None:
    port = free_port()
    with started(_serve_argv(tmp_path, port, ["--mqtt-port", str(free_port())]), tmp_path / "c.log") as proc:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), STARTUP_S, "cloud healthz")
        with httpx.Client(base_url=f"http://127.0.0.1:{port}") as client:
            client.get("/healthz")  # a keep-alive connection left open
            assert_stops_cleanly(proc, sig, tmp_path / "c.log")


def _live_session(tmp_path: Path) -> str:
    """Seed the demo fleet, add a live session for a resident; that session's id."""
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    subprocess.run(
        [VENDFLEET, "cloud", "seed", str(DEMO_FIXTURE), "--db", db], check=True, capture_output=True
    )
    engine = make_engine(db)
    with transaction(session_factory(engine)) as session:
        user = session.scalar(select(User).where(User.phone == "13800138000"))
        cabinet = session.scalar(select(Cabinet).where(Cabinet.code == "XH-0001"))
        assert user is not None
        assert cabinet is not None
        live = Session(
            id="s-live", cabinet_id=cabinet.id, user_id=user.id, door=0, mode="resident", command_id="c-live"
        )
        session.add(live)
    engine.dispose()
    return "s-live"


def _token(tmp_path: Path) -> str:
    """The resident's token, signed with the keys of the cloud serving from tmp_path."""
    argv = [
        VENDFLEET,
        "cloud",
        "token",
        "--user",
        "13800138000",
        "--db",
        f"sqlite:///{tmp_path / 'cloud.db'}",
    ]
    token = subprocess.run([*argv, "--key-dir", str(tmp_path / "keys")], check=True, capture_output=True)
    return token.stdout.decode().strip()


def test_cloud_serve_stops_with_a_stream_open(tmp_path: Path, mosquitto: MosquittoServer) -> None:
    """A live SSE stream (a resident watching the visit) must not keep the server up."""
    session_id = _live_session(tmp_path)
    port = free_port()
    with started(_serve_argv(tmp_path, port, ["--mqtt", mosquitto.url]), tmp_path / "c.log") as proc:
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), STARTUP_S, "cloud healthz")
        token = _token(tmp_path)  # the cloud's keys exist once it runs
        streaming = threading.Event()

        def hold_stream() -> None:
            url = f"http://127.0.0.1:{port}/api/v1/sessions/{session_id}/stream"
            headers = {"Authorization": f"Bearer {token}"}
            try:
                with httpx.stream("GET", url, headers=headers, timeout=10) as answer:
                    assert answer.status_code == 200
                    for _ in answer.iter_bytes():
                        streaming.set()
            except httpx.HTTPError:
                pass

        holder = threading.Thread(target=hold_stream, daemon=True)
        holder.start()
        assert streaming.wait(10), "the session stream did not start"
        assert_stops_cleanly(proc, signal.SIGTERM, tmp_path / "c.log")
        holder.join(5)


@pytest.mark.parametrize("sig", STOP_SIGNALS, ids=["SIGTERM", "SIGINT"])
def test_cloud_ingest_stops_on_signal(tmp_path: Path, mosquitto: MosquittoServer, sig: int) -> None:
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    subprocess.run([VENDFLEET, "cloud", "migrate", "--db", db], check=True, capture_output=True)
    argv = ["cloud", "ingest", "--db", db, "--mqtt", mosquitto.url, "--workers", "2"]
    argv += ["--key-dir", str(tmp_path / "keys")]
    with started(argv, tmp_path / "ingest.log") as proc:
        wait_until(lambda: b"ingest up" in (tmp_path / "ingest.log").read_bytes(), STARTUP_S, "ingest up")
        time.sleep(0.5)  # connected and sweeping
        assert_stops_cleanly(proc, sig, tmp_path / "ingest.log")


def test_ingest_stopped_mid_stream_acknowledged_only_what_it_stored(
    tmp_path: Path, mosquitto: MosquittoServer
) -> None:
    """SIGTERM while events pour in: every evack the worker sent covers events in the database."""
    db = f"sqlite:///{tmp_path / 'cloud.db'}"
    seed = [VENDFLEET, "cloud", "seed", str(DEMO_FIXTURE), "--db", db]
    subprocess.run(seed, check=True, capture_output=True)
    evacks: list[int] = []
    gateway = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    gateway.on_connect = lambda c, *a: c.subscribe(topic("XH-0001", Channel.EVACK), qos=1)
    gateway.on_message = lambda c, u, m: evacks.append(parse(EvAck, m.payload).seq)
    gateway.connect("127.0.0.1", mosquitto.port)
    gateway.loop_start()
    argv = [
        "cloud",
        "ingest",
        "--db",
        db,
        "--mqtt",
        mosquitto.url,
        "--share-group",
        "g" + uuid.uuid4().hex[:6],
    ]
    log = tmp_path / "ingest.log"
    try:
        with started([*argv, "--key-dir", str(tmp_path / "keys")], log) as proc:
            wait_until(lambda: b"ingest up" in log.read_bytes(), STARTUP_S, "ingest up")
            time.sleep(0.5)  # subscribed
            for seq in range(1, 2001):
                event = DoorEvent(
                    event_id=uuid.uuid4(), seq=seq, cabinet_id="XH-0001", door=0, action="opened"
                )
                gateway.publish(topic("XH-0001", Channel.EVENTS), encode(event), qos=1)
            wait_until(lambda: evacks, 30, "the first evack")
            assert_stops_cleanly(proc, signal.SIGTERM, log)
    finally:
        gateway.disconnect()
        gateway.loop_stop()
    engine = make_engine(db)
    with session_factory(engine)() as session:
        stored = set(session.scalars(select(ProcessedEvent.seq)))
    engine.dispose()
    acknowledged = max(evacks)
    assert acknowledged < 2000, "the stop came too late to cut the stream"
    assert set(range(1, acknowledged + 1)) <= stored


@pytest.mark.parametrize("which", ["http", "mqtt"])
def test_cloud_serve_on_a_taken_port_fails_with_one_clear_line(tmp_path: Path, which: str) -> None:
    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        http, mqtt_port = (port, free_port()) if which == "http" else (free_port(), port)
        argv = [VENDFLEET, *_serve_argv(tmp_path, http, ["--mqtt-port", str(mqtt_port)])]
        done = subprocess.run(argv, capture_output=True, text=True, timeout=60)
    assert done.returncode == 1
    assert (
        done.stderr.strip()
        == f"vendfleet cloud serve: cannot listen on 127.0.0.1:{port}: Address already in use"
    )


# -- the demo --------------------------------------------------------------------------------------


def _demo_argv(tmp_path: Path, port: int) -> list[str]:
    return [
        "demo",
        "--no-browser",
        "--cabinets",
        "1",
        "--speed",
        "30",
        "--port",
        str(port),
        "--data-dir",
        str(tmp_path / "demo"),
        "--manifest",
        str(tmp_path / "manifest.json"),
    ]


@pytest.mark.slow
def test_demo_stops_on_sigterm_with_all_its_children(tmp_path: Path) -> None:
    log = tmp_path / "demo.log"
    with started(_demo_argv(tmp_path, free_port()), log) as proc:
        wait_until(lambda: (tmp_path / "manifest.json").exists() or proc.poll() is not None, 90, "demo up")
        assert proc.poll() is None, log.read_text()[-3000:]
        time.sleep(3)  # residents shopping
        # cloud, simulator and gateway (each `vendfleet` is one process)
        assert_stops_cleanly(proc, signal.SIGTERM, log, children=3)


PARENT = """
import sys, time
from pathlib import Path
from firmware_sim.demo.processes import Children
Children(Path(sys.argv[1])).spawn("sim", "sim", "cabinet", "--layout", "chilled-4shelf", read_lines=1)
print("ready", flush=True)
time.sleep(120)
"""


def test_demo_children_die_with_the_demo_even_on_sigkill(tmp_path: Path) -> None:
    """A demo killed outright (SIGKILL, OOM killer, a chaos day) leaves no simulator or gateway."""
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path)], stdout=subprocess.PIPE, text=True
    )
    children: list[int] = []
    try:
        assert parent.stdout is not None
        assert parent.stdout.readline().strip() == "ready"
        children = _family(parent.pid)
        assert children
        parent.kill()
        parent.wait()
        wait_until(lambda: not any(_alive(pid) for pid in children), STOP_BUDGET_S, "orphans gone")
    finally:
        parent.kill()
        parent.wait()
        for pid in children:
            if _alive(pid):
                os.kill(pid, signal.SIGKILL)
        if parent.stdout:
            parent.stdout.close()


class _Impostor(BaseHTTPRequestHandler):
    def do_GET(self) -> None:  # noqa: N802 - the http.server API
        self.send_response(200)
        self.end_headers()
        self.wfile.write(b"{}")

    def log_message(self, *args: object) -> None:
        pass


def test_demo_refuses_a_taken_port_and_never_talks_to_its_server(tmp_path: Path) -> None:
    impostor = ThreadingHTTPServer(("127.0.0.1", 0), _Impostor)
    port = impostor.server_address[1]
    threading.Thread(target=impostor.serve_forever, daemon=True).start()
    requests = []
    impostor.RequestHandlerClass = type("Counting", (_Impostor,), {"setup": _counting(requests)})
    try:
        sent = time.monotonic()
        done = subprocess.run(
            [VENDFLEET, *_demo_argv(tmp_path, port)], capture_output=True, text=True, timeout=60
        )
        took = time.monotonic() - sent
    finally:
        impostor.shutdown()
        impostor.server_close()
    output = done.stdout + done.stderr
    assert done.returncode != 0, output
    assert took < 10, f"took {took:.1f}s to give up"
    assert f"port {port}" in output, output
    assert "in use" in output, output
    assert not requests, "the demo talked to a server it did not start"
    assert not (tmp_path / "manifest.json").exists()


def _counting(requests: list[object]):  # type: ignore[no-untyped-def]
    def setup(self: BaseHTTPRequestHandler) -> None:
        requests.append(self.client_address)
        BaseHTTPRequestHandler.setup(self)

    return setup
