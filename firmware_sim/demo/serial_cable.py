"""The cable between a gateway and its boards, which the chaos day unplugs and plugs back in.

The gateway opens a stable path (a symlink, as udev gives a USB RS-485 adapter), which points at
a pty of our own; bytes are relayed to and from the simulator's pty. Unplugging closes that pty
and removes the path, as a vanishing /dev/ttyUSB0 would; plugging in makes a new pty behind it.
"""

from __future__ import annotations

import os
import select
import threading
import tty
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class SerialCable:
    device: str  # the simulator's serial device
    path: Path  # what the gateway opens
    unplugs: int = 0
    _board_fd: int = -1
    _ends: tuple[int, int] | None = None  # our pty: (master, slave)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None

    def plug(self) -> SerialCable:
        if self._board_fd < 0:
            self._board_fd = os.open(self.device, os.O_RDWR | os.O_NOCTTY)
            tty.setraw(self._board_fd)
        master, slave = os.openpty()
        tty.setraw(master)
        tty.setraw(slave)  # raw before the gateway writes: no echo, no line discipline
        self._ends = (master, slave)
        staged = self.path.with_suffix(".new")
        staged.unlink(missing_ok=True)
        staged.symlink_to(os.ttyname(slave))
        staged.replace(self.path)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._relay, args=(master, self._stop), daemon=True)
        self._thread.start()
        return self

    def unplug(self) -> None:
        if self._ends is None:
            return
        self.unplugs += 1
        self.path.unlink(missing_ok=True)
        self._stop.set()
        if self._thread is not None:
            self._thread.join(2)
        for fd in self._ends:
            os.close(fd)
        self._ends = None

    def close(self) -> None:
        self.unplug()
        if self._board_fd >= 0:
            os.close(self._board_fd)
            self._board_fd = -1

    def _relay(self, master: int, stop: threading.Event) -> None:
        route = {master: self._board_fd, self._board_fd: master}
        while not stop.is_set():
            ready, _, _ = select.select(list(route), [], [], 0.1)
            for fd in ready:
                try:
                    data = os.read(fd, 4096)
                    os.write(route[fd], data)
                except OSError:  # EIO while being unplugged: those bytes are lost on the line
                    continue
