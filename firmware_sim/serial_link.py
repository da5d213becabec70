"""Thin adapters wiring a Cabinet to a pseudo-terminal or to pyserial's `socket://` transport."""

from __future__ import annotations

import logging
import os
import select
import socket
import threading
import tty
from collections.abc import Callable

Handler = Callable[[bytes], bytes]
log = logging.getLogger("firmware_sim.serial")


def answer_safely(handler: Handler, data: bytes) -> bytes:
    """A bug in a board must cost one answer, never the link thread (the cabinet would go dark)."""
    try:
        return handler(data)
    except Exception:
        log.exception("request handler failed on %s", data.hex())
        return b""


class PtyLink:
    """A pty whose slave end is the cabinet's serial device; the master end is the boards."""

    def __init__(self, handler: Handler) -> None:
        self._handler = handler
        self._master, self._slave = os.openpty()
        # Raw before anyone writes: in cooked mode written bytes would echo back.
        tty.setraw(self._slave)
        tty.setraw(self._master)
        self.path = os.ttyname(self._slave)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sim-pty", daemon=True)

    def start(self) -> PtyLink:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            ready, _, _ = select.select([self._master], [], [], 0.1)
            if not ready:
                continue
            try:
                data = os.read(self._master, 4096)
            except OSError:  # EIO while no client holds the slave open; we keep ours, so rare
                continue
            answer = answer_safely(self._handler, data)
            if answer:
                os.write(self._master, answer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        for fd in (self._master, self._slave):
            os.close(fd)


class SocketLink:
    """A TCP server for `socket://HOST:PORT`: one client at a time, reconnects welcome."""

    def __init__(self, handler: Handler, host: str, port: int) -> None:
        self._handler = handler
        self._server = socket.create_server((host, port))
        self._server.settimeout(0.1)
        self.host, self.port = self._server.getsockname()[:2]
        self.path = f"socket://{self.host}:{self.port}"
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, name="sim-socket", daemon=True)

    def start(self) -> SocketLink:
        self._thread.start()
        return self

    def _serve(self) -> None:
        while not self._stop.is_set():
            try:
                conn, _ = self._server.accept()
            except TimeoutError:
                continue
            with conn:
                self._talk(conn)

    def _talk(self, conn: socket.socket) -> None:
        conn.settimeout(0.1)
        while not self._stop.is_set():
            try:
                data = conn.recv(4096)
            except TimeoutError:
                continue
            except OSError:
                return
            if not data:
                return
            answer = answer_safely(self._handler, data)
            if answer:
                conn.sendall(answer)

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(2)
        self._server.close()
