"""Run the gateway service until asked to stop: what `python -m gateway` and `vendfleet gateway run` do."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from gateway.service import GatewayService
from gateway.settings import load_settings
from protocols.runtime import process
from protocols.runtime.logs import configure
from protocols.runtime.shutdown import exit_stopped, stop_requested


def serve(config: Path | None, log_level: str, **overrides: Any) -> None:
    """Run the gateway until SIGTERM or Ctrl-C (then exit code 0)."""
    configure(log_level)
    stop = stop_requested()
    service = GatewayService(load_settings(config, **overrides))
    process.started()
    exit_stopped(service.run(stop))
