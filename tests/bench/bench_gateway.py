"""The gateway process at rest (polling its boards, connected to the broker): memory and CPU.

The floor is a bare pyserial poller on another simulated cabinet: the same READ_WEIGHTS frame at the
gateway's idle poll interval, nothing else (no MQTT, no database, no inference)."""

from __future__ import annotations

import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from firmware_sim.demo.servers import MosquittoServer, terminate
from tests.bench.report import Figure
from tests.harness import gateway_process, write_keys
from tests.sim_fixture import sim_cabinet

WARM_S = 10.0
MEASURE_S = 20.0
POLL_S = 0.5  # the gateway's default idle poll (gateway/settings.py poll_idle_s)
TICKS = os.sysconf("SC_CLK_TCK")
# The harness speeds gateways up for tests; measure the shipped timings.
DEFAULTS = {
    "VF_POLL_FAST_S": "0.1",
    "VF_POLL_IDLE_S": "0.5",
    "VF_SENSORS_IDLE_S": "5",
    "VF_TELEMETRY_INTERVAL_S": "10",
}
BARE_POLLER = f"""
import time, serial
from protocols.serial import message_frame
from protocols.serial.commands import ReadWeights
from protocols.serial.frame import encode_frame
port = serial.Serial({{path!r}}, 115200, timeout=0.2)
n = 0
while True:
    port.write(encode_frame(message_frame(0x20, n % 256, ReadWeights())))
    port.read(64)
    n += 1
    time.sleep({POLL_S})
"""


def _rss_mb(pid: int) -> float:
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError("no VmRSS")


def _cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS  # utime + stime


def _at_rest(pid: int) -> tuple[float, float]:
    """RSS (MB) after warming up, and the share of one core used over MEASURE_S (%)."""
    time.sleep(WARM_S)
    cpu, start = _cpu_s(pid), time.monotonic()
    time.sleep(MEASURE_S)
    share = (_cpu_s(pid) - cpu) / (time.monotonic() - start) * 100
    return _rss_mb(pid), max(share, 100 / TICKS / MEASURE_S)  # at least one clock tick


def run() -> list[Figure]:
    broker = MosquittoServer().start()
    try:
        with tempfile.TemporaryDirectory() as tmp, sim_cabinet() as floor_sim:
            poller = subprocess.Popen([sys.executable, "-c", BARE_POLLER.format(path=floor_sim.serial)])
            try:
                floor_rss, floor_cpu = _at_rest(poller.pid)
            finally:
                terminate(poller)
            write_keys(Path(tmp) / "keys")
            with (
                sim_cabinet() as sim,
                gateway_process(
                    "XH-0001",
                    sim.serial,
                    broker.url,
                    Path(tmp) / "gw",
                    Path(tmp) / "keys",
                    extra_env=DEFAULTS,
                ) as gateway,
            ):
                assert gateway.proc is not None
                rss, cpu = _at_rest(gateway.proc.pid)
    finally:
        broker.cleanup()
    return [
        Figure("gateway RSS at rest (target ≤ 50 MB)", "MB", rss, "bare pyserial poller", floor_rss),
        Figure(
            "gateway CPU while polling (target ≤ 3 %)", "% of a core", cpu, "bare pyserial poller", floor_cpu
        ),
    ]
