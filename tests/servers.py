"""Real server processes on free ports in temp dirs, for tests, benchmarks and the demo.

Each class starts its own process (never the machine's services on standard ports) and fails
with the Debian package to install when the binary is missing.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import socket
import subprocess
import tempfile
import time
import urllib.request
from pathlib import Path
from typing import Any
from urllib.parse import quote


class ServerError(RuntimeError):
    pass


def terminate(proc: subprocess.Popen[Any]) -> None:
    """SIGTERM, then SIGKILL if it does not stop within 10 s."""
    if proc.poll() is None:
        proc.terminate()
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_for_port(port: int, log: Path, timeout: float = 15.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with socket.socket() as s:
            if s.connect_ex(("127.0.0.1", port)) == 0:
                return
        time.sleep(0.05)
    raise ServerError(f"nothing listens on port {port} after {timeout}s; log tail:\n{tail(log)}")


def tail(path: Path, lines: int = 20) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def require(binary: str, package: str) -> str:
    found = shutil.which(binary) or next(iter(glob.glob(binary)), None)
    if not found:
        raise ServerError(f"{binary} not found: install the Debian package {package!r}")
    return found


class Process:
    """A server subprocess with its log in a temp dir."""

    def __init__(self, name: str) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"vf-{name}-"))
        self.dir.chmod(0o755)  # servers that drop root privileges must read their files
        self.log = self.dir / f"{name}.log"
        self.proc: subprocess.Popen[bytes] | None = None

    def spawn(self, argv: list[str], **kwargs: object) -> None:
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, **kwargs)  # type: ignore[call-overload]

    def stop(self) -> None:
        if self.proc:
            terminate(self.proc)
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)


class MosquittoServer(Process):
    """A private Mosquitto; stop() and start() keep the port, as a broker restart would."""

    def __init__(self, extra_conf: str = "", files: dict[str, str] | None = None) -> None:
        super().__init__("mosquitto")
        self.binary = require("/usr/sbin/mosquitto", "mosquitto")
        self.port = free_port()
        for name, content in (files or {}).items():
            (self.dir / name).write_text(content)
            (self.dir / name).chmod(0o644)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            # The default of 1000 silently drops QoS 1 messages for a slow subscriber.
            "max_queued_messages 100000\n" + extra_conf.replace("{dir}", str(self.dir))
        )
        self.conf.chmod(0o644)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> MosquittoServer:
        self.spawn([self.binary, "-c", str(self.conf)])
        wait_for_port(self.port, self.log)
        return self

    def restart(self) -> None:
        self.stop()
        self.start()


class PostgresServer(Process):
    """A private PostgreSQL cluster in a temp dir (run as the postgres user when we are root)."""

    def __init__(self) -> None:
        super().__init__("postgres")
        bins = sorted(glob.glob("/usr/lib/postgresql/*/bin"), key=lambda p: int(p.split("/")[-2]))
        if not bins:
            raise ServerError("PostgreSQL not found: install the Debian package 'postgresql'")
        self.bin = Path(bins[-1])
        self.port = free_port()
        self.data = self.dir / "data"

    def _as_owner(self, argv: list[str]) -> list[str]:
        # initdb and postgres refuse to run as root.
        return ["runuser", "-u", "postgres", "--", *argv] if os.geteuid() == 0 else argv

    def start(self) -> PostgresServer:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
            self.log.touch()
            shutil.chown(self.log, "postgres", "postgres")
        if not self.data.exists():
            subprocess.run(
                self._as_owner(
                    [
                        str(self.bin / "initdb"),
                        "-D",
                        str(self.data),
                        "-U",
                        "postgres",
                        "-A",
                        "trust",
                        "-E",
                        "UTF8",
                        "--no-sync",
                    ]
                ),
                check=True,
                capture_output=True,
            )
        self.spawn(
            self._as_owner(
                [
                    str(self.bin / "postgres"),
                    "-D",
                    str(self.data),
                    "-p",
                    str(self.port),
                    "-c",
                    "listen_addresses=127.0.0.1",
                    "-k",
                    str(self.dir),
                    "-c",
                    "fsync=off",
                    "-c",
                    "full_page_writes=off",
                    "-c",
                    "synchronous_commit=off",
                    "-c",
                    "max_connections=200",
                ]
            )
        )
        wait_for_port(self.port, self.log, timeout=30)
        return self

    def url(self, database: str = "postgres") -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def create_database(self, name: str) -> str:
        self._admin(f'CREATE DATABASE "{name}"')
        return self.url(name)

    def drop_database(self, name: str) -> None:
        self._admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')

    def _admin(self, sql: str) -> None:
        import psycopg

        with psycopg.connect(
            host="127.0.0.1", port=self.port, user="postgres", dbname="postgres", autocommit=True
        ) as conn:
            conn.execute(sql.encode())


class VictoriaMetricsServer(Process):
    """VictoriaMetrics: accepts the InfluxDB v2 write API that influxdb-client speaks."""

    def __init__(self) -> None:
        super().__init__("victoria")
        self.binary = require("victoria-metrics", "victoria-metrics")
        self.port = free_port()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> VictoriaMetricsServer:
        self.spawn(
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.dir / 'data'}",
                "-search.latencyOffset=0s",
            ]
        )
        wait_for_port(self.port, self.log)
        return self

    def flush(self) -> None:
        urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10).read()  # noqa: S310

    def export(self, match: str = '{__name__=~".+"}', wait: float = 5.0) -> list[dict[str, Any]]:
        """Series matching `match`; waits up to `wait` s, as a new series name is indexed late."""
        url = f"{self.url}/api/v1/export?match[]={quote(match)}"
        deadline = time.monotonic() + wait
        while True:
            self.flush()
            body = urllib.request.urlopen(url, timeout=10).read().decode()  # noqa: S310
            series = [json.loads(line) for line in body.splitlines() if line.strip()]
            if series or time.monotonic() > deadline:
                return series
            time.sleep(0.2)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    return require("chromium", "chromium")
