"""Start `vendfleet sim cabinet` as a subprocess, as the gateway and end-to-end tests need it."""

from __future__ import annotations

import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx

from firmware_sim.demo.servers import terminate

VENDFLEET = str(Path(sys.executable).with_name("vendfleet"))


@dataclass
class SimProcess:
    proc: subprocess.Popen[str]
    serial: str
    control_url: str

    def control(self) -> httpx.Client:
        return httpx.Client(base_url=self.control_url, timeout=10)

    def state(self) -> dict[str, Any]:
        with self.control() as c:
            return dict(c.get("/state").raise_for_status().json())

    def post(self, path: str, body: dict[str, Any] | None = None) -> httpx.Response:
        with self.control() as c:
            return c.post(path, json=body)


@contextmanager
def sim_cabinet(
    layout: str = "chilled-4shelf", *, seed: int = 1, faults: str = "", speed: float = 1.0
) -> Iterator[SimProcess]:
    argv = [
        VENDFLEET,
        "sim",
        "cabinet",
        "--layout",
        layout,
        "--serial",
        "pty",
        "--control",
        "127.0.0.1:0",
        "--seed",
        str(seed),
        "--speed",
        str(speed),
    ]
    if faults:
        argv += ["--faults", faults]
    proc = subprocess.Popen(argv, stdout=subprocess.PIPE, text=True)
    try:
        assert proc.stdout is not None
        serial = proc.stdout.readline().strip().removeprefix("serial: ")
        control = proc.stdout.readline().strip().removeprefix("control: ")
        if not serial.startswith("/dev/") or not control.startswith("http"):
            raise RuntimeError(f"simulator did not start: {serial!r} {control!r}")
        yield SimProcess(proc, serial, control)
    finally:
        terminate(proc)
        if proc.stdout:
            proc.stdout.close()
