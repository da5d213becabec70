"""How every long-running `vendfleet` process stops.

SIGTERM (systemd, Kubernetes) and SIGINT (Ctrl-C) both ask for a clean stop: the process finishes or
abandons its in-flight work (nothing is acknowledged that is not committed), stops its parts side by
side and exits within STOP_BUDGET_S with code 0 (not 128+15: a stop that was asked for and done is
a success, for systemd without `SuccessExitStatus=`). A stop that overruns the budget, or a second
signal while stopping, exits with code 1, so an unclean stop is never reported as a clean one.
Library code (CloudRuntime.stop, GatewayService.run) only reports what it had to abandon; the
command's entry point exits.
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


def stop_together(*stages: Sequence[Callable[[], object]], budget_s: float = STOP_BUDGET_S) -> list[str]:
    """Run each stage's stoppers side by side, stage after stage, within one budget overall.
    Returns the stoppers that failed or were abandoned when the budget ran out (none, normally)."""
    started = time.monotonic()
    deadline = started + budget_s
    failed: list[str] = []
    for stage in stages:
        threads = [threading.Thread(target=_guarded, args=(s, failed), daemon=True) for s in stage]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(max(0.0, deadline - time.monotonic()))
        late = [_name(s) for s, t in zip(stage, threads, strict=True) if t.is_alive()]
        if late:
            log.error("stop overran its budget", budget_s=budget_s, late=late)
            return failed + late
    log.info("stopped", took_s=round(time.monotonic() - started, 3), failed=failed)
    return failed


def _guarded(stopper: Callable[[], object], failed: list[str]) -> None:
    try:
        stopper()
    except Exception:
        log.exception("stop failed", part=_name(stopper))
        failed.append(_name(stopper))


def exit_stopped(abandoned: Sequence[str] = ()) -> NoReturn:
    """Exit 0 after a clean stop, 1 if anything had to be abandoned."""
    exit_now(1 if abandoned else 0)


def exit_now(code: int) -> NoReturn:
    """Exit, skipping the interpreter's teardown of its modules: with FastAPI, SQLAlchemy and
    pydantic loaded that alone takes seconds on a busy machine."""
    logging.shutdown()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


def _name(stopper: Callable[[], object]) -> str:
    return str(getattr(stopper, "__qualname__", repr(stopper)))


def _exit_now(reason: str) -> NoReturn:
    log.error("exiting without a clean stop", reason=reason)
    exit_now(1)
