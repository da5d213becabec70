"""Child processes of the demo: started with their logs in the data dir, all stopped together.

Each child runs in its own session, so a terminal's Ctrl-C reaches the demo alone and the demo
stops its children in order; each child also gets SIGTERM from the kernel if the demo dies, even
by SIGKILL (`VF_DIE_WITH_PARENT`, see vendfleet_cli.py)."""

from __future__ import annotations

import os
import subprocess
import sys
import threading
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

VENDFLEET = str(Path(sys.executable).with_name("vendfleet"))
# The first child (the cloud) serves the others: they stop first, within this share of the budget.
CLIENTS_STOP_S = 0.7
STOP_S = 1.5


class ChildFailed(RuntimeError):
    """A child exited before it was ready; the message is its last words."""


@dataclass
class Children:
    log_dir: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def spawn(self, name: str, *args: str, read_lines: int = 0) -> tuple[subprocess.Popen[str], list[str]]:
        """Start `vendfleet ARGS`; return it and the first `read_lines` lines of its stdout."""
        log_path = self.log_dir / f"{name}.log"
        with log_path.open("a") as log:
            proc = subprocess.Popen(
                [VENDFLEET, *args],
                stdout=subprocess.PIPE if read_lines else log,
                stderr=log,
                text=True,
                start_new_session=True,
                env={**os.environ, **_die_with_us()},
            )
        self.procs.append(proc)
        lines = []
        for _ in range(read_lines):
            assert proc.stdout is not None
            line = proc.stdout.readline()
            if not line:  # it exited before it said where it listens
                proc.wait()
                raise ChildFailed(f"{name} exited ({proc.returncode}): {_last_line(log_path)}")
            lines.append(line.strip())
        return proc, lines

    def run(self, *args: str) -> str:
        return subprocess.run([VENDFLEET, *args], check=True, capture_output=True, text=True).stdout

    def stop(self) -> bool:
        """SIGTERM to the clients, then to the cloud; SIGKILL for any that overruns. True if all
        stopped on their own."""
        start = time.monotonic()
        clean = _terminate(self.procs[1:], start + CLIENTS_STOP_S)
        clean = _terminate(self.procs[:1], start + STOP_S) and clean
        for proc in self.procs:
            if proc.stdout:
                proc.stdout.close()
        return clean


def _terminate(procs: list[subprocess.Popen[str]], deadline: float) -> bool:
    for proc in procs:
        if proc.poll() is None:
            proc.terminate()
    clean = True
    for proc in procs:
        try:
            proc.wait(max(0.0, deadline - time.monotonic()))
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait()
            clean = False
    return clean


def _last_line(log: Path) -> str:
    lines = [line for line in log.read_text(errors="replace").splitlines() if line.strip()]
    return lines[-1] if lines else "no output"


def wait_http(url: str, proc: subprocess.Popen[str], timeout: float = 30) -> None:
    """Until `url` answers 200, as long as `proc` (the server we started) is still running."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline and proc.poll() is None:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise ChildFailed(f"{url} did not answer within {timeout}s (exit code {proc.poll()})")


def _die_with_us() -> dict[str, str]:
    """Ask the child to die with us (PR_SET_PDEATHSIG). The kernel sends that signal when the *thread*
    that started the child ends, so only children of the main thread may ask: one restarted by a
    helper thread (the chaos day's injector) would otherwise die when that thread is done."""
    if threading.current_thread() is not threading.main_thread():
        return {}
    return {"VF_DIE_WITH_PARENT": str(os.getpid())}
