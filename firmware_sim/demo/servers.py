"""Real server processes on free ports in temp dirs, for the chaos demo, the tests and the benchmarks.

Each class starts its own process (never the machine's services on standard ports), writes its
output to a log in its temp dir, and fails with the Debian package to install when the binary is
missing. Use them as context managers, or call start() and cleanup() yourself.
"""

from __future__ import annotations

import glob
import json
import os
import shutil
import signal
import socket
import subprocess
import tempfile
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path
from types import TracebackType
from typing import TYPE_CHECKING, Any, Protocol, Self
from urllib.parse import quote

if TYPE_CHECKING:
    from playwright.sync_api import Browser, Playwright


class ServerError(RuntimeError):
    """A server binary is missing, or the server did not come up."""


def free_port() -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def port_open(port: int) -> bool:
    with socket.socket() as s:
        s.settimeout(1.0)
        return s.connect_ex(("127.0.0.1", port)) == 0


def tail(path: Path, lines: int = 30) -> str:
    try:
        return "\n".join(path.read_text(errors="replace").splitlines()[-lines:])
    except OSError:
        return "(no log)"


def require(binary: str, package: str, *fallbacks: str) -> str:
    """The binary's path: on PATH, else the first fallback that exists (/usr/sbin is not on every PATH)."""
    found = shutil.which(binary) or next((f for f in fallbacks if os.access(f, os.X_OK)), None)
    if not found:
        raise ServerError(f"{binary} not found: install the Debian package {package!r} (make test does)")
    return found


def terminate(proc: subprocess.Popen[Any], sig: int = signal.SIGTERM, timeout: float = 10.0) -> None:
    """Ask the process to stop with `sig`, then SIGKILL it if it is still there after `timeout` s."""
    if proc.poll() is None:
        proc.send_signal(sig)
        try:
            proc.wait(timeout)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()


class Process:
    """One server subprocess, with a temp dir that holds its files and its log."""

    name = "server"
    stop_signal: int = signal.SIGTERM

    def __init__(self) -> None:
        self.dir = Path(tempfile.mkdtemp(prefix=f"vf-{self.name}-"))
        self.dir.chmod(0o755)  # servers that drop root privileges must still read their files
        self.log = self.dir / f"{self.name}.log"
        self.port = free_port()
        self.proc: subprocess.Popen[bytes] | None = None

    def start(self) -> Self:
        raise NotImplementedError

    @property
    def running(self) -> bool:
        return self.proc is not None and self.proc.poll() is None

    def spawn(self, argv: list[str]) -> None:
        if self.running:
            raise ServerError(f"{self.name} is already running")
        with self.log.open("ab") as log:
            self.proc = subprocess.Popen(argv, stdout=log, stderr=subprocess.STDOUT, cwd=self.dir)

    def wait_ready(self, ready: Callable[[], bool], timeout: float = 10.0) -> None:
        """Poll `ready` until it holds; fail at once, with the log's tail, if the server exits."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            if not self.running:
                self.proc = None
                raise ServerError(f"{self.name} exited during startup; log tail:\n{tail(self.log)}")
            if ready():
                return
            time.sleep(0.05)
        self.stop()
        raise ServerError(f"{self.name} not ready after {timeout}s; log tail:\n{tail(self.log)}")

    def stop(self) -> None:
        if self.proc is not None:
            terminate(self.proc, self.stop_signal)
        self.proc = None

    def freeze(self) -> None:
        """SIGSTOP: connections stay open, nothing is answered (a hung server, or one about to die)."""
        assert self.proc is not None
        self.proc.send_signal(signal.SIGSTOP)

    def crash(self) -> None:
        """SIGKILL: gone at once, with whatever it held only in memory."""
        if self.proc is not None:
            self.proc.kill()
            self.proc.wait()
        self.proc = None

    def cleanup(self) -> None:
        self.stop()
        shutil.rmtree(self.dir, ignore_errors=True)

    def __enter__(self) -> Self:
        try:
            return self.start()
        except BaseException:
            self.cleanup()
            raise

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.cleanup()


class MosquittoServer(Process):
    """A private Mosquitto; stop() and start() keep the port, as a real broker restart would."""

    name = "mosquitto"

    def __init__(self, extra_conf: str = "", files: dict[str, str] | None = None) -> None:
        """`files` are written into the temp dir; `{dir}` in `extra_conf` names that dir."""
        self.binary = require("mosquitto", "mosquitto", "/usr/sbin/mosquitto")
        super().__init__()
        for name, content in (files or {}).items():
            (self.dir / name).write_text(content)
            (self.dir / name).chmod(0o644)
        self.conf = self.dir / "mosquitto.conf"
        self.conf.write_text(
            f"listener {self.port} 127.0.0.1\n"
            "allow_anonymous true\n"
            "persistence false\n"
            # The default of 1000 silently drops QoS 1 messages for a slow subscriber.
            "max_queued_messages 100000\n"
            # As shipped (deploy/compose/mosquitto): no Nagle delay on small QoS 1 packets.
            "set_tcp_nodelay true\n"
            "log_dest stderr\n"
            # As root it would switch to the mosquitto user; stay root so it reads any file we write.
            # (Ignored when we are not root.)
            "user root\n" + extra_conf.replace("{dir}", str(self.dir)) + "\n"
        )
        self.conf.chmod(0o644)

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.spawn([self.binary, "-c", str(self.conf)])
        self.wait_ready(lambda: port_open(self.port))
        return self

    def restart(self) -> None:
        self.stop()
        self.start()


class MosquittoFactory(Protocol):
    """The `mosquitto_factory` fixture: a started broker with extra config and files."""

    def __call__(self, extra_conf: str = "", files: dict[str, str] | None = None) -> MosquittoServer: ...


def postgres_bin_dir() -> Path:
    """The newest installed PostgreSQL's bin dir (Debian keeps them apart, off PATH)."""
    dirs = glob.glob("/usr/lib/postgresql/*/bin")
    if dirs:
        return Path(max(dirs, key=lambda d: int(Path(d).parent.name)))
    initdb = shutil.which("initdb")
    if initdb:
        return Path(initdb).resolve().parent
    raise ServerError("PostgreSQL not found: install the Debian package 'postgresql' (make test does)")


class PostgresServer(Process):
    """A private PostgreSQL cluster in a temp dir, with trust auth for the postgres role."""

    name = "postgres"
    # SIGINT is PostgreSQL's fast shutdown; SIGTERM (smart) would wait for pooled clients to go.
    stop_signal = signal.SIGINT

    def __init__(self) -> None:
        self.bin = postgres_bin_dir()
        super().__init__()
        self.data = self.dir / "data"

    @property
    def url(self) -> str:
        return self.url_for("postgres")

    def url_for(self, database: str) -> str:
        return f"postgresql+psycopg://postgres@127.0.0.1:{self.port}/{database}"

    def _as_owner(self, argv: list[str]) -> list[str]:
        """initdb and postgres refuse to run as root: run them as the postgres system user.

        setpriv execs in place (runuser forks), so our Popen is postgres itself and gets our signals.
        """
        if os.geteuid() != 0:
            return argv
        ids = ["--reuid=postgres", "--regid=postgres", "--init-groups", "--reset-env"]
        return ["setpriv", *ids, "--", *argv]

    def _initdb(self) -> None:
        if os.geteuid() == 0:
            shutil.chown(self.dir, "postgres", "postgres")
        argv = [str(self.bin / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"]
        argv += ["-E", "UTF8", "--locale=C.UTF-8", "--no-sync"]
        done = subprocess.run(self._as_owner(argv), cwd=self.dir, capture_output=True, check=False)
        with self.log.open("ab") as log:
            log.write(done.stdout + done.stderr)
        if done.returncode != 0:
            raise ServerError(f"initdb failed ({done.returncode}); log tail:\n{tail(self.log)}")

    def start(self) -> Self:
        if not self.data.exists():
            self._initdb()
        argv = [str(self.bin / "postgres"), "-D", str(self.data), "-p", str(self.port), "-k", str(self.dir)]
        # A throwaway cluster: durability settings off for speed; room for pools and ingest workers.
        for setting in (
            "listen_addresses=127.0.0.1",
            "fsync=off",
            "full_page_writes=off",
            "synchronous_commit=off",
            "max_connections=200",
        ):
            argv += ["-c", setting]
        self.spawn(self._as_owner(argv))
        # The port opens before the cluster accepts sessions, so wait for a real connection.
        self.wait_ready(self._accepts_sessions, timeout=30)
        return self

    def _accepts_sessions(self) -> bool:
        import psycopg

        try:
            with psycopg.connect(self._conninfo("postgres"), connect_timeout=2):
                return True
        except psycopg.OperationalError:
            return False

    def _conninfo(self, database: str) -> str:
        return f"host=127.0.0.1 port={self.port} user=postgres dbname={database}"

    def create_database(self, name: str, template: str | None = None) -> str:
        """Create a database (empty, or a copy of `template`) and return its SQLAlchemy URL."""
        from psycopg import sql

        statement = sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name))
        if template:
            statement += sql.SQL(" TEMPLATE {}").format(sql.Identifier(template))
        self._admin(statement)
        return self.url_for(name)

    def drop_database(self, name: str) -> None:
        """Drop it even if a test left connections open (FORCE terminates them)."""
        from psycopg import sql

        self._admin(sql.SQL("DROP DATABASE IF EXISTS {} WITH (FORCE)").format(sql.Identifier(name)))

    def _admin(self, statement: Any) -> None:
        import psycopg

        # CREATE/DROP DATABASE cannot run inside a transaction.
        with psycopg.connect(self._conninfo("postgres"), autocommit=True) as conn:
            conn.execute(statement)


class VictoriaMetricsServer(Process):
    """VictoriaMetrics: accepts the InfluxDB v2 write API (/api/v2/write) that influxdb-client speaks."""

    name = "victoria"

    def __init__(self) -> None:
        self.binary = require("victoria-metrics", "victoria-metrics")
        super().__init__()

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> Self:
        self.spawn(
            [
                self.binary,
                f"-httpListenAddr=127.0.0.1:{self.port}",
                f"-storageDataPath={self.dir / 'data'}",
                "-search.latencyOffset=0s",  # new points are queryable at once, not 30 s later
                "-retentionPeriod=100y",  # the default (1 month) silently drops back-dated test points
            ]
        )
        self.wait_ready(self._healthy)
        return self

    def _healthy(self) -> bool:
        try:
            with urllib.request.urlopen(f"{self.url}/health", timeout=2) as resp:  # noqa: S310
                return bool(resp.status == 200)
        except (urllib.error.URLError, OSError):
            return False

    def flush(self) -> None:
        """Make every point written so far queryable now."""
        with urllib.request.urlopen(f"{self.url}/internal/force_flush", timeout=10) as resp:  # noqa: S310
            resp.read()

    def export(self, match: str = '{__name__=~".+"}', wait: float = 5.0) -> list[dict[str, Any]]:
        """The series matching `match` ({"metric": {...}, "values": [...], "timestamps": [...]}).

        Waits up to `wait` s for at least one, as a brand-new series name is indexed a little late.
        """
        url = f"{self.url}/api/v1/export?match[]={quote(match)}"
        deadline = time.monotonic() + wait
        while True:
            self.flush()
            with urllib.request.urlopen(url, timeout=10) as resp:  # noqa: S310
                body = resp.read().decode()
            series = [json.loads(line) for line in body.splitlines() if line.strip()]
            if series or time.monotonic() > deadline:
                return series
            time.sleep(0.2)


CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",  # we run as root in a container
    "--disable-gpu",
    # No calls home: the tests run offline and must not wait for them.
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
    "--disable-quic",
]


def chromium_path() -> str:
    return require("chromium", "chromium")


def launch_chromium(playwright: Playwright) -> Browser:
    """Debian's Chromium under Playwright (`playwright install` cannot download here)."""
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=CHROMIUM_ARGS)
