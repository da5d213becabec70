"""The serial port: opened by URL, closed when it vanishes, reopened when it returns."""

from __future__ import annotations

import serial

from gateway import GatewayError


class PortLost(GatewayError):
    """The port went away (a USB adapter re-enumerating, a socket peer closing)."""


class SerialTransport:
    def __init__(self, url: str, baudrate: int) -> None:
        self.url = url
        self._baudrate = baudrate
        self._port: serial.Serial | None = None

    @property
    def is_open(self) -> bool:
        return self._port is not None

    def open(self) -> None:
        """Open the port or raise PortLost (callers retry with back-off)."""
        try:
            self._port = serial.serial_for_url(self.url, baudrate=self._baudrate, timeout=0.01)
            self._port.reset_input_buffer()
        except (serial.SerialException, OSError, ValueError) as exc:
            self._port = None
            raise PortLost(f"cannot open {self.url}: {exc}") from None

    def close(self) -> None:
        if self._port is not None:
            try:
                self._port.close()
            except (serial.SerialException, OSError):
                pass
        self._port = None

    def write(self, data: bytes) -> None:
        port = self._require()
        try:
            port.write(data)
            port.flush()
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise PortLost(f"{self.url}: {exc}") from None

    def read(self) -> bytes:
        """What has arrived, waiting at most the port's short timeout."""
        port = self._require()
        try:
            return bytes(port.read(max(1, port.in_waiting)))
        except (serial.SerialException, OSError) as exc:
            self.close()
            raise PortLost(f"{self.url}: {exc}") from None

    def _require(self) -> serial.Serial:
        if self._port is None:
            raise PortLost(f"{self.url} is not open")
        return self._port
