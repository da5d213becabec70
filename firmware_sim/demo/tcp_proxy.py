"""A cabinet's network link as a TCP proxy that can be cut: the chaos day's 4G outage.

While cut, bytes go nowhere in either direction and new connections are accepted and then
ignored, as when a cable is pulled somewhere along the route: the ends find out only by their
own timeouts (MQTT keepalive), not by a reset. Connections that lived through a cut are closed
when it ends, as TCP would have given up on them.
"""

from __future__ import annotations

import socket
import threading
from dataclasses import dataclass, field


@dataclass(eq=False)
class _Pair:
    inside: socket.socket
    outside: socket.socket | None  # None: accepted during a cut, never connected upstream

    def close(self) -> None:
        for s in (self.inside, self.outside):
            if s is not None:
                try:
                    s.shutdown(socket.SHUT_RDWR)
                except OSError:
                    pass
                s.close()


@dataclass
class TcpProxy:
    target: tuple[str, int]
    host: str = "127.0.0.1"
    port: int = 0
    cuts: int = 0
    _cut: bool = False
    _pairs: set[_Pair] = field(default_factory=set)
    _lock: threading.Lock = field(default_factory=threading.Lock)
    _listener: socket.socket | None = None

    @property
    def url(self) -> str:
        return f"mqtt://{self.host}:{self.port}"

    def start(self) -> TcpProxy:
        self._listener = socket.create_server((self.host, self.port))
        self.port = self._listener.getsockname()[1]
        threading.Thread(target=self._accept, name=f"proxy-{self.port}", daemon=True).start()
        return self

    def cut(self) -> None:
        with self._lock:
            self._cut = True
            self.cuts += 1

    def restore(self) -> None:
        with self._lock:
            self._cut = False
            survivors, self._pairs = self._pairs, set()
        for pair in survivors:
            pair.close()

    def stop(self) -> None:
        if self._listener is not None:
            self._listener.close()
        self.restore()

    def _accept(self) -> None:
        assert self._listener is not None
        while True:
            try:
                inside, _ = self._listener.accept()
            except OSError:
                return  # stopped
            threading.Thread(target=self._connect, args=(inside,), daemon=True).start()

    def _connect(self, inside: socket.socket) -> None:
        outside = None
        if not self._cut:
            try:
                outside = socket.create_connection(self.target, timeout=5)
                outside.settimeout(None)
            except OSError:
                inside.close()  # the broker itself is down: a refusal passes through
                return
        pair = _Pair(inside, outside)
        with self._lock:
            self._pairs.add(pair)
        if outside is not None:
            threading.Thread(target=self._pump, args=(outside, inside, pair), daemon=True).start()
        self._pump(inside, outside, pair)

    def _pump(self, source: socket.socket, sink: socket.socket | None, pair: _Pair) -> None:
        while True:
            try:
                data = source.recv(65536)
            except OSError:
                data = b""
            if not data:
                break
            if self._cut or sink is None:
                continue  # black-holed
            try:
                sink.sendall(data)
            except OSError:
                break
        with self._lock:
            self._pairs.discard(pair)
        pair.close()
