"""Optional Prometheus endpoint of the gateway (`metrics_port`): bus health and outbox depth."""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Gauge, start_http_server

from gateway.bus import BusStats


def serve_metrics(port: int, stats: BusStats, outbox_depth: Callable[[], int]) -> None:
    registry = CollectorRegistry()
    gauges = {
        "requests": "Serial requests sent",
        "retries": "Serial retries (same sequence number)",
        "decode_errors": "Garbage, bad CRCs and truncated frames on the line",
        "failures": "Requests no board answered",
    }
    for name, help_text in gauges.items():
        gauge = Gauge(f"vendfleet_gateway_bus_{name}", help_text, registry=registry)
        gauge.set_function(_reader(stats, name))
    depth = Gauge("vendfleet_gateway_outbox_depth", "Events waiting for the cloud's evack", registry=registry)
    depth.set_function(lambda: float(outbox_depth()))
    start_http_server(port, addr="127.0.0.1", registry=registry)


def _reader(stats: BusStats, name: str) -> Callable[[], float]:
    return lambda: float(getattr(stats, name))
