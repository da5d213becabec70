"""Door sessions at work: unlock with a baseline, follow the door, settle, infer, report."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterable
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID

import structlog

from gateway.alarms import Alarms
from gateway.bus import BoardInfo, BusMaster
from gateway.door_session import DoorSession, SessionStore, State, Trigger
from gateway.inference import BasketInference, Move, infer_basket
from gateway.outbox import EventBuilder
from gateway.settings import GatewaySettings
from gateway.snapshot import Snapshot, Weight
from gateway.stock import StockBook
from protocols.mqtt.schemas import (
    BasketCandidate,
    CabinetSettings,
    ChannelInference,
    ChannelReading,
    DoorEvent,
    LaneDelta,
    LaneMove,
    SessionResult,
    UnlockAction,
)
from protocols.planogram import Planogram
from protocols.planogram_lint import NoiseModel
from protocols.serial.commands import (
    Ack,
    BoardEvent,
    BoardEventKind,
    BoardType,
    Nack,
    NackCode,
    ReadWeights,
    Unlock,
    Weights,
)

log = structlog.get_logger("gateway.sessions")
BASELINE_AT = "baseline_at"  # DoorSession.extra: when the oldest reading of the baseline was taken
SETTLE_MIN_S = 0.3  # readings taken this soon after the door shut still ring
BASELINE_MAX_AGE_S = 30.0  # an older polled reading is read again: scales drift, boards go quiet
DOOR_SEEN_S = 1.0  # beyond the lock board's poll interval, how stale its door states may be
NOISE = NoiseModel()


class Refused(Exception):
    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def now_utc() -> datetime:
    return datetime.now(UTC)


class SessionRunner:
    def __init__(
        self,
        *,
        settings: GatewaySettings,
        bus: BusMaster,
        snapshot: Snapshot,
        store: SessionStore,
        alarms: Alarms,
        emit: Callable[[EventBuilder], object],
        planogram: Callable[[], Planogram | None],
        timing: Callable[[], CabinetSettings],
        next_tag: Callable[[], int],
        on_done: Callable[[DoorSession], None],
        stock: StockBook,
        noise: Callable[[NoiseModel, Iterable[int]], NoiseModel] = lambda base, _: base,
    ) -> None:
        self._s = settings
        self._bus = bus
        self._snap = snapshot
        self._store = store
        self._alarms = alarms
        self._emit = emit
        self._planogram = planogram
        self._timing = timing
        self._next_tag = next_tag
        self._on_done = on_done
        self._stock = stock
        self._noise = noise  # a degrading load cell widens it (gateway/scale_watch.py)
        self.live: dict[int, DoorSession] = store.load_all()
        if self.live:
            log.info("resuming sessions", sessions={d: s.state.value for d, s in self.live.items()})

    @property
    def active(self) -> bool:
        return bool(self.live)

    # -- unlock --------------------------------------------------------------------------------

    def unlock(
        self, command_id: UUID, action: UnlockAction, store_with: Callable[[], None] = lambda: None
    ) -> DoorSession:
        """Take the baseline, persist the session, pulse the lock; Refused says why not.

        The baseline is what polling saw while the door stayed shut (no wait on the path the resident
        waits on); when polling proves nothing, the scales are read before the pulse, never after:
        a hand may be in the cabinet by then. `store_with` writes in the session's transaction (the
        command's replay-guard entry): one commit, one fsync, before the pulse."""
        door = action.door
        board = self._snap.lock_board_of(door)
        if board is None:
            raise Refused("unknown_door", f"no door {door}; this cabinet has {self._snap.door_count()}")
        if door in self.live:
            raise Refused("busy", f"door {door} is in session {self.live[door].session_id}")
        weights = self._polled_baseline(door) or self._read_baseline(door)
        with self._store.atomic():  # the tag, the session, the command id: one commit before the pulse
            session = DoorSession(
                session_id=action.session_id,
                command_id=command_id,
                door=door,
                mode=action.mode,
                tag=self._next_tag() & 0xFFFFFFFF,
                unlocked_at=now_utc(),
                baseline={c: (w.grams, w.stable, w.fault) for c, w in weights.items()},
                extra={BASELINE_AT: min((w.at for w in weights.values()), default=now_utc()).isoformat()},
            )
            # Persisted before the pulse: a gateway killed now still reports the session.
            self._save(session)
            store_with()  # last: the guard forgets what it stored, so nothing may fail after it
        answer = self._bus.call(board.addr, Unlock(door - board.first, action.pulse_ms, session.tag))
        if not isinstance(answer, Ack):
            self._drop(session)
            code = answer.code.name if isinstance(answer, Nack) else "no answer"
            reason = "busy" if isinstance(answer, Nack) and answer.code is NackCode.BUSY else "hardware_fault"
            raise Refused(reason, f"lock board 0x{board.addr:02x}: {code}")
        self._bus.poll_fast(True)
        return session

    def _polled_baseline(self, door: int) -> dict[int, Weight] | None:
        """The baseline from the bus master's polling, or None when it proves nothing.

        What lies on a shelf changes only while its door is open, and the lock board latches every
        opening and closing as an event until it is polled (a restart of the board, which forgets
        them, counts as a move). So a stable reading taken after the door last moved and the shelf
        stopped ringing, with the door closed at every poll since, is what the shelf holds now. The
        door must have been seen lately; the reading must be newer than the last tare and not so old
        that drift matters. Without such a reading for every channel, the scales are read before the
        pulse. (An opening after the last poll is reported later: see board_event.)
        """
        now = now_utc()
        doors = self._doors_of(door)
        stale = _s(DOOR_SEEN_S + 2 * self._s.poll_idle_s)
        snap = self._snap
        if not doors or any(
            d not in snap.closed or d not in snap.door_seen_at or now - snap.door_seen_at[d] > stale
            for d in doors
        ):
            return None
        quiet_from = max(snap.moved_at[d] for d in doors) + _s(SETTLE_MIN_S)
        if snap.tared_at is not None:
            quiet_from = max(quiet_from, snap.tared_at)
        baseline = {}
        for c in self._channels_of(door):
            latest = snap.weights.get(c)
            w = latest if latest is not None and latest.fault else snap.stable.get(c)
            if w is None or w.at <= quiet_from or now - w.at > _s(BASELINE_MAX_AGE_S):
                return None
            baseline[c] = w
        return baseline

    def _read_baseline(self, door: int) -> dict[int, Weight]:
        """Fresh, stable weights of the door's channels (a faulty channel is marked)."""
        channels = self._channels_of(door)
        deadline = time.monotonic() + self._s.baseline_timeout_s
        readings: dict[int, Weight] = {}
        while True:
            readings.update(self._read_scales())
            wanted = {c: readings[c] for c in channels if c in readings}
            if all(w.stable or w.fault for w in wanted.values()) or time.monotonic() > deadline:
                return wanted
            time.sleep(0.05)

    def _read_scales(self) -> dict[int, Weight]:
        readings = {}
        for board in self._snap.boards_of(BoardType.SCALE):
            answer = self._bus.call(board.addr, _READ_WEIGHTS)
            if isinstance(answer, Weights):
                at = now_utc()
                for i, w in enumerate(answer.channels):
                    readings[board.first + i] = Weight.of(w, at)
        return readings

    def _channels_of(self, door: int) -> list[int]:
        planogram = self._planogram()
        if planogram is not None and planogram.channels:
            return [c.channel for c in planogram.channels_of_door(door)]
        # Without a planogram every channel we know of counts for door 0 cabinets.
        return sorted(self._snap.weights)

    def _doors_of(self, door: int) -> list[int]:
        """Doors whose opening can change the door's channels: itself, or all without a planogram."""
        planogram = self._planogram()
        return [door] if planogram is not None and planogram.channels else sorted(self._snap.doors)

    # -- what the lock board says ------------------------------------------------------------

    def board_event(self, board: BoardInfo, event: BoardEvent, at: datetime) -> None:
        door = board.first + event.index
        session = self.live.get(door)
        mine = session is not None and event.session_tag == session.tag
        sid = session.session_id if session and mine else None
        if event.kind in _MOVES:
            self._snap.door_moved(door, at)
        if session and session.state is State.UNLOCKING and event.kind in _MOVES and not mine:
            if _moved_since_baseline(session, at):
                # The door moved without our pulse while or after the baseline was read (latched
                # by the lock board, polled only now): the shelf may no longer hold what the
                # baseline says. Such a baseline counts as unread.
                session = self._unread(session)
        match event.kind:
            case BoardEventKind.DOOR_OPENED | BoardEventKind.DOOR_FORCED:
                self._door_event(door, "opened", sid, at)
                if event.kind is BoardEventKind.DOOR_FORCED:
                    self._alarms.raise_("forced_open", door, door=door, detail="opened while locked")
                if session and mine and session.state is State.UNLOCKING:
                    self._fire(session, Trigger.DOOR_OPENED, at)
            case BoardEventKind.DOOR_CLOSED:
                self._door_event(door, "closed", sid, at)
                self._alarms.clear("forced_open", door, door=door)
                self._alarms.clear("left_open", door, door=door)
                if session and session.state in (State.OPEN, State.LEFT_OPEN):
                    self._fire(session, Trigger.DOOR_CLOSED, at)

    def reconcile_doors(self) -> None:
        """Door switches are the truth when events were lost (a restart, a board reboot)."""
        at = now_utc()
        for door, session in list(self.live.items()):
            state = self._snap.doors.get(door)
            if state is None:
                continue
            if session.state is State.UNLOCKING and state.open:
                self._fire(session, Trigger.DOOR_OPENED, at)
            elif session.state in (State.OPEN, State.LEFT_OPEN) and not state.open:
                self._fire(session, Trigger.DOOR_CLOSED, at)

    def _unread(self, session: DoorSession) -> DoorSession:
        """The baseline counts as unread: every channel unusable, none taken as unchanged."""
        unread = {c: (g, False, f) for c, (g, _, f) in session.baseline.items()}
        session = replace(session, baseline=unread)
        self._save(session)
        return session

    def _door_event(self, door: int, action: str, session_id: str | None, at: datetime) -> None:
        cabinet = self._s.cabinet_id
        self._emit(
            lambda seq, eid: DoorEvent(
                event_id=eid,
                seq=seq,
                cabinet_id=cabinet,
                ts=at,
                door=door,
                action=action,
                session_id=session_id,
            )
        )

    # -- timers ------------------------------------------------------------------------------

    def tick(self) -> None:
        now = now_utc()
        timing = self._timing()
        for session in list(self.live.values()):
            if session.state is State.UNLOCKING and now > session.unlocked_at + _s(
                timing.door_open_timeout_s
            ):
                self._fire(session, Trigger.OPEN_TIMEOUT, now)
            elif (
                session.state is State.OPEN
                and session.opened_at
                and now > session.opened_at + _s(timing.left_open_after_s)
            ):
                self._fire(session, Trigger.LEFT_OPEN_TIMEOUT, now)
                self._alarms.raise_(
                    "left_open",
                    session.door,
                    door=session.door,
                    detail=f"session {session.session_id}",
                )
            elif session.state is State.SETTLING:
                self._try_settle(session, now, timing.settle_timeout_s)
        self._bus.poll_fast(self.active)

    def _try_settle(self, session: DoorSession, now: datetime, timeout_s: float) -> None:
        assert session.closed_at is not None
        fresh_after = session.closed_at + _s(SETTLE_MIN_S)
        channels = list(session.baseline)
        final = {c: self._snap.weights.get(c) for c in channels}
        settled = all(w is not None and w.at > fresh_after and (w.stable or w.fault) for w in final.values())
        if settled or now > session.closed_at + _s(timeout_s):
            # On a timeout, a reading from before the door closed says nothing of what was taken:
            # such a channel counts as unread (unusable), not as unchanged.
            fresh = {c: w for c, w in final.items() if w is not None and w.at > fresh_after}
            self._report(session, fresh, now)

    # -- results -----------------------------------------------------------------------------

    def _report(self, session: DoorSession, final: dict[int, Weight], now: datetime) -> None:
        planogram = self._planogram()
        unusable = frozenset(
            c
            for c, (_, stable, fault) in session.baseline.items()
            if fault or not stable or c not in final or final[c].fault or not final[c].stable
        )
        basket = None
        if planogram is not None:
            # A channel of this door that was never read (its scale board missing, the line down) is
            # unusable too: "nothing taken" from it would be a guess, and a free basket.
            door = {c.channel for c in planogram.channels_of_door(session.door)}
            unusable |= door - session.baseline.keys()
            basket = infer_basket(
                planogram,
                {c: g for c, (g, _, _) in session.baseline.items()},
                {c: w.grams for c, w in final.items()},
                noise=self._noise(NOISE, door),
                mode=session.mode,
                stock=self._stock.known(),
                faulty=unusable,
                min_confidence=self._timing().min_confidence,
            )
            self._stock.settle(basket)
        self._emit(lambda seq, eid: self._result(seq, eid, session, final, basket, now))
        self._fire(session, Trigger.SETTLED, now)

    def _result(
        self,
        seq: int,
        eid: UUID,
        session: DoorSession,
        final: dict[int, Weight],
        basket: BasketInference | None,
        now: datetime,
    ) -> SessionResult:
        base = [
            ChannelReading(channel=c, grams=round(g, 1), stable=st, fault=f)
            for c, (g, st, f) in sorted(session.baseline.items())
        ]
        common: dict[str, Any] = dict(
            event_id=eid,
            seq=seq,
            cabinet_id=self._s.cabinet_id,
            ts=now,
            session_id=session.session_id,
            command_id=session.command_id,
            door=session.door,
            mode=session.mode,
            unlocked_at=session.unlocked_at,
            opened_at=session.opened_at,
            closed_at=session.closed_at,
            baseline=base,
            final=[w.reading(c) for c, w in sorted(final.items())],
        )
        if basket is None:
            return SessionResult(**common, outcome="completed", confidence=0.0, ambiguous=True)
        return SessionResult(
            **common,
            outcome="completed",
            channels=[
                ChannelInference(
                    channel=r.channel,
                    delta_g=round(r.delta_g, 1),
                    outcome=r.outcome,
                    confidence=r.confidence,
                )
                for r in basket.channels
            ],
            lanes=[_lane(c) for c in basket.lanes],
            confidence=basket.confidence,
            ambiguous=basket.ambiguous,
            candidates=[
                BasketCandidate(
                    lanes=[_lane(c) for c in cand.changes],
                    probability=cand.probability,
                    moves=[_move(m) for m in cand.moves],
                )
                for cand in basket.candidates
            ],
            moves=[_move(m) for m in basket.moves],
        )

    def _not_opened(self, session: DoorSession, now: datetime) -> None:
        cabinet = self._s.cabinet_id
        self._emit(
            lambda seq, eid: SessionResult(
                event_id=eid,
                seq=seq,
                cabinet_id=cabinet,
                ts=now,
                session_id=session.session_id,
                command_id=session.command_id,
                door=session.door,
                mode=session.mode,
                outcome="not_opened",
                unlocked_at=session.unlocked_at,
            )
        )

    # -- bookkeeping ---------------------------------------------------------------------------

    def _fire(self, session: DoorSession, trigger: Trigger, at: datetime) -> None:
        updated = session.fire(trigger, at)
        log.info("session", session=session.session_id, door=session.door, state=updated.state.value)
        if updated.state is State.NOT_OPENED:
            self._not_opened(updated, at)
        if updated.done:
            self._drop(updated)
            self._on_done(updated)
        else:
            self._save(updated)

    def _save(self, session: DoorSession) -> None:
        self.live[session.door] = session
        self._store.save(session)

    def _drop(self, session: DoorSession) -> None:
        self.live.pop(session.door, None)
        self._store.delete(session.door)


_READ_WEIGHTS = ReadWeights()
_MOVES = (BoardEventKind.DOOR_OPENED, BoardEventKind.DOOR_FORCED, BoardEventKind.DOOR_CLOSED)


def _moved_since_baseline(session: DoorSession, moved: datetime) -> bool:
    """A door move at `moved` may have changed a shelf after (or while it rang into) the baseline."""
    read_at = session.extra.get(BASELINE_AT)
    return read_at is None or moved >= datetime.fromisoformat(read_at) - _s(SETTLE_MIN_S)


def _s(seconds: float) -> timedelta:
    return timedelta(seconds=seconds)


def _lane(change: Any) -> LaneDelta:
    return LaneDelta(channel=change.channel, lane=change.lane, sku=change.sku, delta=change.delta)


def _move(move: Move) -> LaneMove:
    return LaneMove(
        channel=move.channel, lane=move.lane, sku=move.sku, to_channel=move.to_channel, count=move.count
    )
