"""The bus master: one thread owns the serial port, discovers boards, polls them, runs commands.

Commands (`call`) jump the polling queue. What the boards say goes to a sink as `BusEvent`s;
the service thread, not this one, decides what it means.
"""

from __future__ import annotations

import queue
import threading
import time
from collections.abc import Callable
from concurrent.futures import Future
from dataclasses import dataclass
from datetime import UTC, datetime

import structlog

from gateway.metrics import GatewayMetrics
from gateway.plausibility import Board
from gateway.settings import GatewaySettings
from gateway.transaction import SequenceNumbers, Transaction
from gateway.transport import PortLost, SerialTransport
from protocols.serial.commands import (
    Answer,
    BoardType,
    Climate,
    GetInfo,
    GetStatus,
    Info,
    ReadClimate,
    ReadWeights,
    Request,
    Status,
    Weights,
)
from protocols.serial.frame import FrameDecoder

log = structlog.get_logger("gateway.bus")
MAX_BACKOFF_S = 30.0
REDISCOVER_S = 30.0  # how often absent scan addresses are asked again
# A board is declared down after this many polls in a row go unanswered (about 3 s with the backoff):
# one missed poll is a busy line or a starved board at start-up, not a fault to raise and clear.
MISSES_DOWN = 3
IDLE_WAIT_S = 0.05  # at most this long between looks at the stop flag and the rediscovery clock


@dataclass(frozen=True)
class BoardInfo:
    addr: int
    board_type: BoardType
    firmware: str
    count: int
    serial_number: str
    first: int  # first door or scale channel number of this board


@dataclass(frozen=True)
class PortState:
    ok: bool
    detail: str = ""


@dataclass(frozen=True)
class BoardsFound:
    boards: tuple[BoardInfo, ...]


@dataclass(frozen=True)
class BoardHealth:
    addr: int
    online: bool


@dataclass(frozen=True)
class Reading:
    board: BoardInfo
    answer: Status | Weights | Climate
    at: datetime


BusEvent = PortState | BoardsFound | BoardHealth | Reading


@dataclass
class _BoardPoll:
    info: BoardInfo
    due: float = 0.0
    online: bool = True
    backoff: float = 0.0
    misses: int = 0  # polls in a row without an answer


class BusMaster:
    def __init__(
        self,
        settings: GatewaySettings,
        sink: Callable[[BusEvent], None],
        metrics: GatewayMetrics | None = None,
    ) -> None:
        self._s = settings
        self._sink = sink
        self._transport = SerialTransport(settings.serial, settings.baudrate)
        self._decoder = FrameDecoder()
        self._seqs = SequenceNumbers()
        self._commands: queue.Queue[tuple[int, Request, Future[Answer | None]]] = queue.Queue()
        self._boards: dict[int, _BoardPoll] = {}
        self._to_probe: list[int] = []  # absent addresses still to ask in this rediscovery round
        self._stop = threading.Event()
        self._fast = threading.Event()
        self._thread = threading.Thread(target=self._run, name="bus", daemon=True)
        self.metrics = metrics or GatewayMetrics()
        # addr → (bus errors, retries) since start, for the per-board health in telemetry
        self.board_errors: dict[int, tuple[int, int]] = {}

    # -- API for the service thread ----------------------------------------------------------

    def start(self) -> None:
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join(5)
        self._transport.close()

    def call(self, addr: int, request: Request, timeout: float = 2.0) -> Answer | None:
        """Run a command ahead of polling; None if the board did not answer."""
        future: Future[Answer | None] = Future()
        self._commands.put((addr, request, future))
        try:
            return future.result(timeout)
        except TimeoutError:
            return None

    def hold_polls(self, seconds: float) -> None:
        """Start no poll for `seconds` (0: poll again now).

        Held while an unlock is persisted: its call then finds the line free and past the
        turnaround gap, instead of waiting up to an exchange and a gap behind a poll begun meanwhile."""
        self._hold_until = time.monotonic() + seconds

    def poll_fast(self, fast: bool) -> None:
        """Poll doors and scales quickly while a door session runs."""
        if fast and not self._fast.is_set():
            for board in self._boards.values():
                board.due = 0.0
        (self._fast.set if fast else self._fast.clear)()

    # -- the bus thread ----------------------------------------------------------------------

    def _run(self) -> None:
        backoff = 0.5
        while not self._stop.is_set():
            if not self._transport.is_open:
                try:
                    self._transport.open()
                except PortLost as exc:
                    self._sink(PortState(False, str(exc)))
                    self._stop.wait(backoff)
                    backoff = min(backoff * 2, MAX_BACKOFF_S)
                    continue
                backoff = 0.5
                self._decoder = FrameDecoder()
                self._sink(PortState(True))
                self._discover()
            try:
                self._step()
            except PortLost as exc:
                log.warning("serial port lost", detail=str(exc))
                self._sink(PortState(False, str(exc)))
                self._transport.close()
            except Exception:
                # Whatever a board sends, the bus thread lives on: log, count, carry on polling.
                log.exception("bus step failed")
                self.metrics.internal_errors.labels("bus").inc()
                self._stop.wait(0.1)

    def _step(self) -> None:
        try:
            self._run_command(self._commands.get_nowait())
        except queue.Empty:
            pass
        else:
            return
        now = time.monotonic()
        held = now < self._hold_until
        due = [] if held else [b for b in self._boards.values() if b.due <= now]
        if not due:
            if now >= self._rediscover_at and not held:
                self._look_for_missing_boards()
            # Idle until the next poll is due, but a command (an unlock) is taken the moment it comes.
            next_due = min((b.due for b in self._boards.values()), default=now + IDLE_WAIT_S)
            wait = min(max(next_due, self._hold_until) - now, IDLE_WAIT_S)
            try:
                self._run_command(self._commands.get(timeout=max(wait, 0.0)))
            except queue.Empty:
                pass
            return
        for board in sorted(due, key=lambda b: b.due)[:1]:
            self._poll(board, now)

    def _run_command(self, item: tuple[int, Request, Future[Answer | None]]) -> None:
        addr, request, future = item
        if future.set_running_or_notify_cancel():
            try:
                future.set_result(self._exchange(addr, request))
            except BaseException:
                future.set_result(None)  # the caller hears "no answer" now, not after its timeout
                raise

    _rediscover_at = 0.0
    _hold_until = 0.0  # no poll starts before (hold_polls)
    _line_quiet_at = 0.0  # when the last answer (or timeout) ended

    def _look_for_missing_boards(self) -> None:
        """A board that missed discovery (busy line, late power-up) must not stay unknown.

        One absent address per idle step: each costs a whole response timeout, and an unlock
        arriving meanwhile waits for at most one of them, not for the round."""
        if not self._to_probe:
            self._to_probe = [a for a in self._s.scan_addresses if a not in self._boards]
        if len(self._to_probe) <= 1:
            self._rediscover_at = time.monotonic() + REDISCOVER_S  # this round ends with this step
        if not self._to_probe:
            return
        addr = self._to_probe.pop()
        if isinstance(self._exchange(addr, GetInfo(), attempts=1), Info):
            log.warning("board appeared after discovery: discovering again", addr=f"0x{addr:02x}")
            self._discover()

    def _discover(self) -> None:
        found: list[Info] = []
        addrs: list[int] = []
        for addr in self._s.scan_addresses:
            answer = self._exchange(addr, GetInfo())
            if isinstance(answer, Info):
                found.append(answer)
                addrs.append(addr)
        infos = _number_boards(list(zip(addrs, found, strict=True)))
        self._boards = {i.addr: _BoardPoll(i) for i in infos}
        self._to_probe = []
        self._rediscover_at = time.monotonic() + REDISCOVER_S
        log.info("boards found", boards=[f"0x{i.addr:02x}:{i.board_type.name}" for i in infos])
        self._sink(BoardsFound(tuple(infos)))

    def _poll(self, board: _BoardPoll, now: float) -> None:
        request = _POLL_REQUEST[board.info.board_type]
        answer = self._exchange(board.info.addr, request)
        if isinstance(answer, Status | Weights | Climate):
            board.misses = 0
            if not board.online:
                board.online, board.backoff = True, 0.0
                self._sink(BoardHealth(board.info.addr, True))
            self._sink(Reading(board.info, answer, datetime.now(UTC)))
            board.due = now + self._interval(board.info.board_type)
            return
        board.misses += 1
        if board.online and board.misses >= MISSES_DOWN:
            board.online = False
            self._sink(BoardHealth(board.info.addr, False))
        board.backoff = min(max(board.backoff * 2, 1.0), MAX_BACKOFF_S)
        board.due = now + board.backoff

    def _interval(self, board_type: BoardType) -> float:
        fast = self._fast.is_set()
        if board_type is BoardType.LOCK:
            return self._s.poll_fast_s if fast else self._s.poll_idle_s
        if board_type is BoardType.SCALE and fast:
            return self._s.poll_fast_s
        return self._s.sensors_idle_s

    def _exchange(self, addr: int, request: Request, attempts: int | None = None) -> Answer | None:
        """Send, wait for a trustworthy answer, retry with the same seq; PortLost propagates."""
        tx = Transaction(addr, self._seqs.take(addr), request, self._board(addr))
        total = self._s.retries + 1 if attempts is None else attempts
        self.metrics.bus_requests.inc()
        attempt = 0
        try:
            for attempt in range(total):
                if attempt:
                    self.metrics.bus_retries.inc()
                # The gap after the last frame on the line (RS-485 turnaround), not a sleep before each.
                time.sleep(max(0.0, self._line_quiet_at + self._s.inter_frame_gap_s - time.monotonic()))
                self._transport.write(tx.wire)
                deadline = time.monotonic() + self._s.response_timeout_s
                while time.monotonic() < deadline:
                    answer = tx.match(self._decoder.feed(self._transport.read()))
                    if answer is not None:
                        self._line_quiet_at = time.monotonic()
                        return answer
                self._line_quiet_at = time.monotonic()
                tx.match(self._decoder.flush())  # a half frame must not glue onto the retry's answer
            self.metrics.bus_failures.inc()
            return None
        finally:
            self._count(tx, attempt)

    def _board(self, addr: int) -> Board | None:
        poll = self._boards.get(addr)
        return Board(poll.info.board_type, poll.info.count) if poll else None

    def _count(self, tx: Transaction, retries: int) -> None:
        errors, retried = self.board_errors.get(tx.addr, (0, 0))
        self.board_errors[tx.addr] = (errors + tx.decode_errors, retried + retries)
        for reason, n in tx.errors.items():
            self.metrics.bus_errors.labels(reason).inc(n)
        if tx.errors:
            log.debug("bus errors", addr=f"0x{tx.addr:02x}", errors=dict(tx.errors))


_POLL_REQUEST: dict[BoardType, Request] = {
    BoardType.LOCK: GetStatus(),
    BoardType.SCALE: ReadWeights(),
    BoardType.CLIMATE: ReadClimate(),
}


def _number_boards(found: list[tuple[int, Info]]) -> list[BoardInfo]:
    """Doors and scale channels are numbered across boards of a type in address order."""
    next_index = {t: 0 for t in BoardType}
    infos = []
    for addr, info in sorted(found, key=lambda pair: pair[0]):
        infos.append(
            BoardInfo(
                addr,
                info.board_type,
                ".".join(map(str, info.firmware)),
                info.count,
                info.serial_number,
                next_index[info.board_type],
            )
        )
        next_index[info.board_type] += info.count
    return infos
