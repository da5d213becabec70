"""How every long-running `vendfleet` process stops.

SIGTERM (systemd, Kubernetes) and SIGINT (Ctrl-C) both ask for a clean stop: the process finishes or
abandons its in-flight work (nothing is acknowledged that is not committed), stops its parts side by
side, and exits with code 0 within STOP_BUDGET_S (0, not 128+15: a stop that was asked for and done
is a success for systemd without `SuccessExitStatus=`). A stop that overruns the budget, or a second signal
while stopping, ends the process at once with exit code 1, so that an unclean stop is never reported
as a clean one.
"""

from __future__ import annotations

import logging
import os
import signal
import sys
import threading
import time
from collections.abc import Callable, Sequence
from typing import NoReturn

import structlog

log = structlog.get_logger("shutdown")
STOP_BUDGET_S = 1.5  # under the 2 s that supervisors are promised, with room for interpreter exit
STOP_SIGNALS = (signal.SIGTERM, signal.SIGINT)


def stop_requested() -> threading.Event:
    """An event set by the first SIGTERM or SIGINT; a second one exits at once."""
    stop = threading.Event()

    def on_signal(signum: int, frame: object) -> None:
        if stop.is_set():
            _exit_now(f"second {signal.Signals(signum).name} while stopping")
        log.info("stopping", signal=signal.Signals(signum).name)
        stop.set()

    for sig in STOP_SIGNALS:
        signal.signal(sig, on_signal)
    return stop


def wait_for_stop(stop: threading.Event) -> None:
    """Block the main thread until `stop_requested()`'s event is set."""
    # Polled, not stop.wait(): a handler setting an Event the main thread is waiting on can deadlock.
    while not stop.is_set():
        time.sleep(0.05)


def stop_together(*stages: Sequence[Callable[[], object]], budget_s: float = STOP_BUDGET_S) -> None:
    """Run each stage's stoppers side by side, stage after stage, within one budget overall."""
    started = time.monotonic()
    deadline = started + budget_s
    for stage in stages:
        threads = [threading.Thread(target=stopper, daemon=True) for stopper in stage]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        late = [
            getattr(s, "__qualname__", repr(s)) for s, t in zip(stage, threads, strict=True) if t.is_alive()
        ]
        if late:
            _exit_now(f"stop overran {budget_s}s: {', '.join(late)}")
    log.info("stopped", took_s=round(time.monotonic() - started, 3))


def exit_stopped(code: int = 0) -> NoReturn:
    """Exit once everything is stopped, skipping the interpreter's teardown of its modules: with
    FastAPI, SQLAlchemy and pydantic loaded that alone takes seconds on a busy machine."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _exit_now(reason: str) -> NoReturn:
    log.error("exiting without a clean stop", reason=reason)
    exit_stopped(1)
