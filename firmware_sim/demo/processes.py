"""Child processes of the demo: started with their logs in the data dir, all stopped together."""

from __future__ import annotations

import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import httpx

VENDFLEET = str(Path(sys.executable).with_name("vendfleet"))


@dataclass
class Children:
    log_dir: Path
    procs: list[subprocess.Popen[str]] = field(default_factory=list)

    def spawn(self, name: str, *args: str, read_lines: int = 0) -> tuple[subprocess.Popen[str], list[str]]:
        """Start `vendfleet ARGS`; return it and the first `read_lines` lines of its stdout."""
        log = (self.log_dir / f"{name}.log").open("a")
        proc = subprocess.Popen(
            [VENDFLEET, *args], stdout=subprocess.PIPE if read_lines else log, stderr=log, text=True
        )
        self.procs.append(proc)
        lines = [proc.stdout.readline().strip() for _ in range(read_lines)] if proc.stdout else []
        return proc, lines

    def run(self, *args: str) -> str:
        return subprocess.run([VENDFLEET, *args], check=True, capture_output=True, text=True).stdout

    def stop(self) -> None:
        for proc in reversed(self.procs):
            if proc.poll() is None:
                proc.terminate()
        for proc in self.procs:
            try:
                proc.wait(10)
            except subprocess.TimeoutExpired:
                proc.kill()
            if proc.stdout:
                proc.stdout.close()


def wait_http(url: str, timeout: float = 30) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{url} did not answer within {timeout}s")
