"""The simulated cabinet answers over a real pty, as the hardware would over RS-485."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import serial

import protocols
from firmware_sim.faults import Faults
from firmware_sim.run import RunningCabinet, start_cabinet
from protocols.serial import frame_message, message_frame
from protocols.serial.commands import (
    STATUS_REBOOTED,
    BoardEventKind,
    Command,
    GetStatus,
    Message,
    Nack,
    NackCode,
    ReadWeights,
    Request,
    Status,
    Unlock,
    Weights,
)
from protocols.serial.frame import Frame, FrameDecoder, encode_frame
from tests.sim_fixture import sim_cabinet

VECTORS: list[dict[str, Any]] = json.loads(
    (Path(protocols.__file__).parent / "vectors" / "serial.json").read_text()
)
REQUESTS = [v for v in VECTORS if v["direction"] == "request"]


class Master:
    """A minimal bus master for tests: one request, one answer."""

    def __init__(self, path: str) -> None:
        self.port = serial.Serial(path, 115200, timeout=0.05)
        self.decoder = FrameDecoder()
        self.seq = 100

    def exchange_raw(self, raw: bytes, timeout: float = 0.25) -> Frame | None:
        self.port.write(raw)
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            for item in self.decoder.feed(self.port.read(512)):
                if isinstance(item, Frame):
                    return item
        self.decoder.flush()
        return None

    def ask(self, addr: int, request: Request, seq: int | None = None) -> Message | None:
        if seq is None:
            self.seq = (self.seq + 1) % 256
            seq = self.seq
        frame = self.exchange_raw(encode_frame(message_frame(addr, seq, request)))
        return frame_message(frame) if frame else None

    def close(self) -> None:
        self.port.close()


@pytest.fixture
def cabinet() -> Iterator[RunningCabinet]:
    running = start_cabinet("chilled-4shelf", control="127.0.0.1:0", seed=3, speed=10)
    yield running
    running.stop()


@pytest.fixture
def master(cabinet: RunningCabinet) -> Iterator[Master]:
    m = Master(cabinet.serial_path)
    yield m
    m.close()


@pytest.mark.parametrize("vector", REQUESTS, ids=[v["name"] for v in REQUESTS])
def test_every_request_vector_is_answered(master: Master, vector: dict[str, Any]) -> None:
    answer = master.exchange_raw(bytes.fromhex(vector["hex"]))
    assert answer is not None
    expected = next(
        v
        for v in VECTORS
        if v["direction"] == "answer"
        and v["frame"]["seq"] == vector["frame"]["seq"]
        and v["frame"]["addr"] == vector["frame"]["addr"]
    )
    assert (answer.addr, answer.seq) == (vector["frame"]["addr"], vector["frame"]["seq"])
    assert Command(answer.cmd).name == expected["frame"]["cmd"]
    frame_message(answer)  # decodes


@pytest.mark.parametrize(
    ("addr", "req", "code"),
    [
        (0x10, ReadWeights(), NackCode.NOT_SUPPORTED),
        (0x10, Unlock(9, 500, 1), NackCode.BAD_ARGUMENT),
    ],
)
def test_nack_situations(master: Master, addr: int, req: Request, code: NackCode) -> None:
    assert master.ask(addr, req) == Nack(code)


def test_unknown_command_and_bad_length_are_nacked(master: Master) -> None:
    unknown = master.exchange_raw(encode_frame(Frame(0x10, 13, 0x42, b"")))
    assert unknown is not None
    assert frame_message(unknown) == Nack(NackCode.UNKNOWN_COMMAND)
    short_unlock = master.exchange_raw(encode_frame(Frame(0x10, 14, Command.UNLOCK, b"\x00")))
    assert short_unlock is not None
    assert frame_message(short_unlock) == Nack(NackCode.BAD_LENGTH)


def test_absent_board_stays_silent(master: Master) -> None:
    assert master.ask(0x2F, GetStatus()) is None


def events_of(status: Message | None) -> list[BoardEventKind]:
    assert isinstance(status, Status)
    return [e.kind for e in status.events]


def test_repeated_unlock_pulses_once(master: Master) -> None:
    master.ask(0x10, GetStatus())  # clears the power-on status
    master.ask(0x10, GetStatus())
    for _ in range(3):
        master.ask(0x10, Unlock(0, 5000, 77), seq=42)
    status = master.ask(0x10, GetStatus())
    assert events_of(status) == [BoardEventKind.LOCK_RELEASED]


def test_status_retry_repeats_events_until_a_new_request(master: Master) -> None:
    master.ask(0x10, Unlock(0, 5000, 5))
    first = master.ask(0x10, GetStatus(), seq=7)
    again = master.ask(0x10, GetStatus(), seq=7)
    assert first == again
    assert events_of(first) == [BoardEventKind.LOCK_RELEASED]
    assert events_of(master.ask(0x10, GetStatus(), seq=8)) == []


def test_session_events_carry_the_tag_and_weight_drops(master: Master, cabinet: RunningCabinet) -> None:
    world = cabinet.cabinet.world
    master.ask(0x10, GetStatus())
    before = stable_grams(master, 1)
    master.ask(0x10, Unlock(0, 300, 0xABCD))  # pulses last real time at any sim speed
    world.open_door(0)
    world.take(1, "coke-330", 2)
    world.close_door(0)
    time.sleep(0.5)  # the pulse ends, the shelf settles (5 simulated seconds)
    status = master.ask(0x10, GetStatus())
    assert isinstance(status, Status)
    assert [(e.kind, e.session_tag) for e in status.events] == [
        (BoardEventKind.LOCK_RELEASED, 0xABCD),
        (BoardEventKind.DOOR_OPENED, 0xABCD),
        (BoardEventKind.DOOR_CLOSED, 0xABCD),
        (BoardEventKind.LOCK_ENGAGED, 0xABCD),
    ]
    assert before - stable_grams(master, 1) == pytest.approx(700, abs=12)


def stable_grams(master: Master, channel: int) -> float:
    for _ in range(100):
        weights = master.ask(0x20, ReadWeights())
        assert isinstance(weights, Weights)
        if weights.channels[channel].stable:
            return weights.channels[channel].milligrams / 1000
        time.sleep(0.05)
    raise AssertionError("the shelf never settled")


def test_locked_door_refuses_and_forcing_is_reported(master: Master, cabinet: RunningCabinet) -> None:
    world = cabinet.cabinet.world
    master.ask(0x10, GetStatus())
    with pytest.raises(Exception, match="locked"):
        world.open_door(0)
    world.open_door(0, force=True)
    status = master.ask(0x10, GetStatus())
    assert isinstance(status, Status)
    assert [(e.kind, e.session_tag) for e in status.events] == [(BoardEventKind.DOOR_FORCED, 0)]
    assert status.doors[0].open


def test_temperature_rises_with_the_door_open(cabinet: RunningCabinet) -> None:
    world = cabinet.cabinet.world
    world.advance()
    cold = max(world.temps_c)
    world.open_door(0, force=True)
    world.clock.advance(120)
    world.advance()
    assert max(world.temps_c) > cold + 3


def test_corrupted_line_costs_retries_not_wrong_answers(cabinet: RunningCabinet) -> None:
    cabinet.cabinet.set_faults({"corrupt": 0.03})
    master = Master(cabinet.serial_path)
    answers = [master.ask(0x30, GetStatus()) for _ in range(24)]
    master.close()
    # Damaged answers fail their CRC and are lost, never misread.
    assert all(a is None or isinstance(a, Status) for a in answers)
    assert 0 < sum(a is None for a in answers) < 24


def test_dead_board_answers_nothing(master: Master, cabinet: RunningCabinet) -> None:
    cabinet.cabinet.set_faults({"dead_boards": {0x20}})
    assert master.ask(0x20, ReadWeights()) is None
    assert isinstance(master.ask(0x10, GetStatus()), Status)


def test_stuck_lock_is_a_hardware_fault(master: Master, cabinet: RunningCabinet) -> None:
    cabinet.cabinet.set_faults({"stuck_locks": {0}})
    assert master.ask(0x10, Unlock(0, 500, 1)) == Nack(NackCode.HARDWARE_FAULT)


def test_dead_channel_reports_a_fault(master: Master, cabinet: RunningCabinet) -> None:
    cabinet.cabinet.set_faults({"dead_channels": {2}})
    weights = master.ask(0x20, ReadWeights())
    assert isinstance(weights, Weights)
    assert weights.channels[2].fault
    assert not weights.channels[1].fault


def test_power_loss_forgets_latched_events(master: Master, cabinet: RunningCabinet) -> None:
    master.ask(0x10, GetStatus())
    cabinet.cabinet.world.open_door(0, force=True)
    cabinet.cabinet.power_loss()
    status = master.ask(0x10, GetStatus())
    assert isinstance(status, Status)
    assert status.flags & STATUS_REBOOTED
    assert status.events == ()
    assert status.doors[0].open  # the physical state survives


def test_cli_subprocess_prints_its_pty_and_serves_control() -> None:
    with sim_cabinet("ambient-lanes") as sim:
        assert sim.serial.startswith("/dev/pts/")
        assert sim.post("/doors/0/open").status_code == 409
        assert sim.post("/doors/0/open", {"force": True}).status_code == 200
        assert sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 2}).status_code == 200
        state = sim.state()
        assert state["channels"][1]["lanes"][0]["count"] == 8
        master = Master(sim.serial)
        assert isinstance(master.ask(0x21, ReadWeights()), Weights)
        master.close()


def test_faults_spec() -> None:
    from firmware_sim.faults import parse_spec

    assert parse_spec("corrupt=0.01,dead_board=0x20,dead_board=0x21,stuck_lock=3") == Faults(
        corrupt=0.01, dead_boards={0x20, 0x21}, stuck_locks={3}
    )
    with pytest.raises(ValueError, match="unknown fault"):
        parse_spec("gremlins=1")


def test_a_product_put_on_a_shelf_without_its_lane_is_weighed_there() -> None:
    # Issue #12: a misplaced product must be possible in the simulator, or nothing can test it.
    with sim_cabinet("ambient-lanes") as sim:
        assert sim.post("/doors/0/open", {"force": True}).status_code == 200
        before = sim.state()["channels"]
        assert sim.post("/take", {"channel": 1, "sku": "coke-330", "count": 1}).status_code == 200
        assert sim.post("/put", {"channel": 0, "sku": "coke-330", "count": 1}).status_code == 200
        after = sim.state()["channels"]
        assert after[0]["loose"] == [{"sku": "coke-330", "count": 1}]
        assert after[0]["lanes"] == before[0]["lanes"]
        assert 346 <= after[0]["grams"] - before[0]["grams"] <= 354  # the very coke taken, within ±4 g
        assert sim.post("/take", {"channel": 0, "sku": "coke-330", "count": 1}).status_code == 200
        assert sim.state()["channels"][0]["loose"] == []
        assert sim.post("/put", {"channel": 0, "sku": "no-such-thing", "count": 1}).status_code == 409
