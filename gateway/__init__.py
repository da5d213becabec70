"""The per-cabinet service: serial bus master, door sessions, store-and-forward over MQTT."""


class GatewayError(Exception):
    """Root of the gateway's own errors."""
