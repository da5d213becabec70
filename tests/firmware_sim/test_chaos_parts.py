"""The chaos day's parts: its seeded schedule, the cuttable network link, the unpluggable cable."""

from __future__ import annotations

import os
import select
import socket
import tty
from collections.abc import Iterator
from pathlib import Path

import pytest
import serial

from firmware_sim.demo.chaos_plan import Kind, plan
from firmware_sim.demo.serial_cable import SerialCable
from firmware_sim.demo.tcp_proxy import TcpProxy
from tests.harness import wait_until

CABINETS = ["XH-0001", "XH-0002", "XH-0003"]


# -- the schedule ----------------------------------------------------------------------------


def test_the_schedule_is_seeded_and_strikes_every_kind_within_the_span() -> None:
    faults = plan(7, 60, CABINETS, 2, cut_for=15)
    assert faults == plan(7, 60, CABINETS, 2, cut_for=15)
    assert faults != plan(8, 60, CABINETS, 2, cut_for=15)
    assert {f.kind for f in faults} == set(Kind)
    assert {f.target for f in faults if f.kind is Kind.INGEST_KILL} == {"ingest-0", "ingest-1"}
    assert {f.target for f in faults if f.kind is Kind.GATEWAY_KILL} == set(CABINETS)
    assert all(0 <= f.at and f.ends <= 60 for f in faults)
    [cut] = [f for f in faults if f.kind is Kind.NETWORK_CUT]
    assert cut.lasts == 15


@pytest.mark.parametrize("seed", range(20))
def test_faults_on_one_target_never_overlap(seed: int) -> None:
    faults = plan(seed, 1500, CABINETS, 2, cut_for=660)
    for kind in Kind:
        for target in {f.target for f in faults if f.kind is kind}:
            mine = sorted((f for f in faults if (f.kind, f.target) == (kind, target)), key=lambda f: f.at)
            assert all(a.ends <= b.at for a, b in zip(mine, mine[1:], strict=False))
    assert sum(f.kind is Kind.BROKER_KILL for f in faults) >= 3  # a long day has several of each


# -- the network link ------------------------------------------------------------------------


@pytest.fixture
def echo_server() -> Iterator[tuple[str, int]]:
    server = socket.create_server(("127.0.0.1", 0))
    server.settimeout(0.2)
    stop = False

    def serve() -> None:
        while not stop:
            try:
                conn, _ = server.accept()
            except TimeoutError:
                continue
            with conn:
                while data := conn.recv(1024):
                    conn.sendall(data)

    import threading

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    yield server.getsockname()[:2]
    stop = True
    thread.join(2)
    server.close()


def _talk(port: int) -> socket.socket:
    conn = socket.create_connection(("127.0.0.1", port), timeout=1)
    conn.settimeout(0.5)
    return conn


def test_a_cut_link_black_holes_both_ways_and_a_restored_one_carries_new_connections(
    echo_server: tuple[str, int],
) -> None:
    proxy = TcpProxy(echo_server).start()
    try:
        before = _talk(proxy.port)
        before.sendall(b"ping")
        assert before.recv(16) == b"ping"
        proxy.cut()
        before.sendall(b"lost")
        with pytest.raises(TimeoutError):  # no answer and no reset: a black hole
            before.recv(16)
        during = _talk(proxy.port)  # the connect itself succeeds, nothing comes back
        during.sendall(b"hello?")
        with pytest.raises(TimeoutError):
            during.recv(16)
        proxy.restore()
        assert before.recv(16) == b""  # what lived through the cut is gone
        after = _talk(proxy.port)
        after.sendall(b"back")
        assert after.recv(16) == b"back"
        for conn in (before, during, after):
            conn.close()
    finally:
        proxy.stop()


# -- the serial cable ------------------------------------------------------------------------


@pytest.fixture
def board() -> Iterator[tuple[int, str]]:
    """A pty standing in for the simulator: we hold its master end, the cable opens its device."""
    master, slave = os.openpty()
    tty.setraw(master)
    tty.setraw(slave)
    yield master, os.ttyname(slave)
    os.close(master)
    os.close(slave)


def _board_reads(master: int) -> bytes:
    ready, _, _ = select.select([master], [], [], 2)
    return os.read(master, 64) if ready else b""


def test_an_unplugged_cable_takes_the_device_away_and_a_new_one_comes_back(
    board: tuple[int, str], tmp_path: Path
) -> None:
    master, device = board
    cable = SerialCable(device, tmp_path / "ttyRS485").plug()
    try:
        port = serial.Serial(str(cable.path), 115200, timeout=0.5)
        port.write(b"\x5a\x01")
        assert _board_reads(master) == b"\x5a\x01"
        os.write(master, b"\x5a\x02")
        assert port.read(2) == b"\x5a\x02"

        cable.unplug()
        assert not cable.path.exists()
        with pytest.raises(serial.SerialException):  # as a vanished USB adapter: the read fails
            port.read(1)
        port.close()
        with pytest.raises(serial.SerialException):
            serial.Serial(str(cable.path), 115200)

        cable.plug()
        wait_until(cable.path.exists, 2, "the device to come back")
        port = serial.Serial(str(cable.path), 115200, timeout=0.5)
        port.write(b"\x5a\x03")
        assert _board_reads(master) == b"\x5a\x03"
        port.close()
        assert cable.unplugs == 1
    finally:
        cable.close()
