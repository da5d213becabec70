"""Everything that crosses a wire in vendfleet, with no I/O: serial codec, MQTT schemas, signing."""


class ProtocolError(Exception):
    """Root of every error raised by protocols/."""
