"""The gateway's Prometheus counters; served on 127.0.0.1:`metrics_port` when one is set.

Counters are thread-safe, so the bus thread, paho's thread and the service thread all count
into the same object. Nothing the gateway drops goes uncounted: bus errors by reason,
inbound messages by topic channel and reason, exceptions caught by the loop that survived them.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import CollectorRegistry, Counter, Gauge, start_http_server


class GatewayMetrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry()
        r = self.registry
        self.bus_requests = Counter("vendfleet_gateway_bus_requests", "Serial requests sent", registry=r)
        self.bus_retries = Counter(
            "vendfleet_gateway_bus_retries", "Serial retries (same sequence number)", registry=r
        )
        self.bus_failures = Counter(
            "vendfleet_gateway_bus_failures", "Requests no board answered", registry=r
        )
        self.bus_errors = Counter(
            "vendfleet_gateway_bus_errors",
            "Bytes and frames on the line not trusted: garbage, bad CRCs, stray or impossible answers",
            ["reason"],
            registry=r,
        )
        self.inbound_dropped = Counter(
            "vendfleet_gateway_inbound_dropped",
            "Broker messages dropped (malformed, rejected, for a seq never sent, …)",
            ["channel", "reason"],
            registry=r,
        )
        self.internal_errors = Counter(
            "vendfleet_gateway_internal_errors",
            "Unexpected exceptions caught and survived, by the loop that caught them",
            ["where"],
            registry=r,
        )
        self._depth = Gauge(
            "vendfleet_gateway_outbox_depth", "Events waiting for the cloud's evack", registry=r
        )

    def serve(self, port: int, outbox_depth: Callable[[], int]) -> None:
        self._depth.set_function(lambda: float(outbox_depth()))
        start_http_server(port, addr="127.0.0.1", registry=self.registry)
