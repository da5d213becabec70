"""Run the gateway service until asked to stop: what `python -m gateway` and `vendfleet gateway run` do."""

from __future__ import annotations

import gc
import sys
from pathlib import Path
from typing import Any

from gateway.service import GatewayService
from gateway.settings import load_settings
from protocols.runtime.logs import configure
from protocols.runtime.shutdown import exit_stopped, stop_requested


def serve(config: Path | None, log_level: str, **overrides: Any) -> None:
    """Run the gateway until SIGTERM or Ctrl-C (then exit code 0)."""
    configure(log_level)
    stop = stop_requested()
    service = GatewayService(load_settings(config, **overrides))
    # What start-up built lives as long as the process: frozen, a full collection no longer walks it
    # (one took 26 ms, a stall of every thread, an unlock's among them).
    gc.freeze()
    # The command's thread, the bus thread and paho's hand the unlock on: a woken thread waits at most
    # 0.5 ms for the running one to let go of the interpreter, not Python's default 5 ms.
    sys.setswitchinterval(0.0005)
    exit_stopped(service.run(stop))
