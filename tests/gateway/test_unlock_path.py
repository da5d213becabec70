"""The unlock path's guarantees, kept while it was made shorter: one commit before the pulse, with the
session and the command id in it; no poll started while a command is on its way to the line."""

from __future__ import annotations

import sqlite3
import uuid
from concurrent.futures import Future
from datetime import UTC, datetime, timedelta
from pathlib import Path

from gateway.alarms import Alarms
from gateway.bus import BoardInfo, BusMaster, _BoardPoll
from gateway.db import open_db
from gateway.door_session import SessionStore
from gateway.replay_guard import SqliteReplayGuard
from gateway.sessions import SessionRunner
from gateway.settings import GatewaySettings
from gateway.snapshot import Snapshot
from gateway.stock import StockBook
from protocols.mqtt.schemas import CabinetSettings, UnlockAction
from protocols.serial.commands import Ack, Answer, BoardType, GetStatus, Request, Unlock

LOCK = BoardInfo(0x10, BoardType.LOCK, "1.0", 1, "L1", 0)


def settings(tmp_path: Path) -> GatewaySettings:
    return GatewaySettings(cabinet_id="C", serial="loop://", data_dir=tmp_path, cloud_key=tmp_path / "k")


def test_a_noted_command_id_counts_as_seen_and_is_stored_with_the_callers_commit(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    guard = SqliteReplayGuard(db)
    command_id = uuid.uuid4()
    guard.remember(command_id, datetime.now(UTC) + timedelta(minutes=1))
    assert guard.seen(command_id)  # a duplicate arriving before the commit is refused too
    assert not SqliteReplayGuard(open_db(tmp_path)).seen(command_id)
    with SessionStore(db).atomic():
        guard.store()
    assert SqliteReplayGuard(open_db(tmp_path)).seen(command_id)  # as after a restart


def test_a_command_no_session_took_along_commits_its_id_alone(tmp_path: Path) -> None:
    guard = SqliteReplayGuard(open_db(tmp_path))
    command_id = uuid.uuid4()
    guard.remember(command_id, datetime.now(UTC) + timedelta(minutes=1))
    guard.commit()  # a tare, or an unlock refused before its session's commit
    assert SqliteReplayGuard(open_db(tmp_path)).seen(command_id)


class LockOnlyBus:
    """Answers UNLOCK; at that moment looks at what another connection (a restart) would find."""

    def __init__(self, data_dir: Path) -> None:
        self._data_dir = data_dir
        self.at_pulse: tuple[list[int], list[str]] | None = None

    def call(self, addr: int, request: Request, timeout: float = 2.0) -> Answer | None:
        assert isinstance(request, Unlock)
        other = sqlite3.connect(self._data_dir / "gateway.db")
        doors = [r[0] for r in other.execute("SELECT door FROM door_sessions")]
        ids = [r[0] for r in other.execute("SELECT command_id FROM seen_commands")]
        other.close()
        self.at_pulse = (doors, ids)
        return Ack()

    def poll_fast(self, fast: bool) -> None:
        pass


def test_the_session_and_the_command_id_are_durable_before_the_pulse(tmp_path: Path) -> None:
    db = open_db(tmp_path)
    bus = LockOnlyBus(tmp_path)
    snapshot = Snapshot(boards={LOCK.addr: LOCK})
    runner = SessionRunner(
        settings=settings(tmp_path),
        bus=bus,  # type: ignore[arg-type]
        snapshot=snapshot,
        store=SessionStore(db),
        alarms=Alarms(lambda *_: None),
        emit=lambda build: None,
        planogram=lambda: None,
        timing=CabinetSettings,
        next_tag=lambda: 1,
        on_done=lambda session: None,
        stock=StockBook(db),
    )
    guard = SqliteReplayGuard(db)
    command_id = uuid.uuid4()
    guard.remember(command_id, datetime.now(UTC) + timedelta(minutes=1))
    runner.unlock(command_id, UnlockAction(door=0, session_id="s1", mode="resident"), store_with=guard.store)
    assert bus.at_pulse == ([0], [str(command_id)])


def test_held_polls_wait_and_a_command_still_runs_at_once(tmp_path: Path) -> None:
    bus = BusMaster(settings(tmp_path), lambda event: None)
    bus._boards = {LOCK.addr: _BoardPoll(LOCK)}  # due now
    sent: list[Request] = []

    def exchange(addr: int, request: Request, attempts: int | None = None) -> Answer | None:
        sent.append(request)
        return Ack()

    bus._exchange = exchange  # type: ignore[method-assign]
    bus.hold_polls(5.0)
    bus._step()  # neither the due poll nor a look for missing boards
    assert sent == []
    unlock = Unlock(0, 500, 1)
    bus._commands.put((LOCK.addr, unlock, Future()))
    bus._step()
    assert sent == [unlock]
    bus.hold_polls(0.0)
    bus._step()
    assert sent == [unlock, GetStatus()]
