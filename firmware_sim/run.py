"""Start a simulated cabinet in-process: serial link plus optional world-control server."""

from __future__ import annotations

import os
import socket
import threading
from dataclasses import dataclass

import uvicorn

from firmware_sim.cabinet import Cabinet
from firmware_sim.control import control_app
from firmware_sim.faults import Faults
from firmware_sim.layout import load_layout
from firmware_sim.serial_link import PtyLink, SocketLink


@dataclass
class RunningCabinet:
    cabinet: Cabinet
    link: PtyLink | SocketLink
    control_url: str | None
    _server: uvicorn.Server | None
    _thread: threading.Thread | None

    @property
    def serial_path(self) -> str:
        return self.link.path

    def stop(self) -> None:
        if self._server and self._thread:
            self._server.should_exit = True
            self._thread.join(5)
        self.link.stop()


def start_cabinet(
    layout: str,
    *,
    serial: str = "pty",
    control: str | None = None,
    seed: int = 0,
    speed: float = 1.0,
    faults: Faults | None = None,
) -> RunningCabinet:
    """`serial` is "pty" or "socket://HOST:PORT"; `control` is "HOST:PORT" (port 0: any free)."""
    cabinet = Cabinet(load_layout(layout), seed=seed, speed=speed, faults=faults)
    link: PtyLink | SocketLink
    if serial == "pty":
        link = PtyLink(cabinet.receive)
    elif serial.startswith("socket://"):
        host, _, port = serial.removeprefix("socket://").rpartition(":")
        link = SocketLink(cabinet.receive, host or "127.0.0.1", int(port))
    else:
        raise ValueError(f"--serial must be 'pty' or socket://HOST:PORT, not {serial!r}")
    link.start()
    if control is None:
        return RunningCabinet(cabinet, link, None, None, None)
    server, thread, url = _serve_control(cabinet, control)
    return RunningCabinet(cabinet, link, url, server, thread)


def _serve_control(cabinet: Cabinet, address: str) -> tuple[uvicorn.Server, threading.Thread, str]:
    host, _, port = address.rpartition(":")
    # IPPROTO_TCP, not create_server's 0: only then does asyncio set TCP_NODELAY on each connection.
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind((host or "127.0.0.1", int(port)))
        sock.listen(socket.SOMAXCONN)
    except OSError as exc:
        sock.close()
        reason = os.strerror(exc.errno) if exc.errno else str(exc)
        raise OSError(exc.errno, f"cannot listen on {host or '127.0.0.1'}:{port}: {reason}") from exc
    bound_host, bound_port = sock.getsockname()[:2]
    # A client holding a connection open (a stuck test, a browser) must not delay a stop.
    config = uvicorn.Config(
        control_app(cabinet), log_level="warning", lifespan="off", timeout_graceful_shutdown=1
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, kwargs={"sockets": [sock]}, daemon=True)
    thread.start()
    url = f"http://{bound_host}:{bound_port}"
    while not server.started and thread.is_alive():
        threading.Event().wait(0.01)
    return server, thread, url
