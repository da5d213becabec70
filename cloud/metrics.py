"""Prometheus metrics of the cloud process (GET /metrics)."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

EVENTS = Counter("vendfleet_events_ingested_total", "Gateway events stored (first time only)", ["kind"])
DUPLICATES = Counter("vendfleet_events_duplicate_total", "Gateway events seen again and ignored")
TELEMETRY = Counter("vendfleet_telemetry_ingested_total", "Telemetry samples stored")
INGEST_LAG = Histogram(
    "vendfleet_ingest_lag_seconds",
    "From an event happening to it being stored",
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 3600),
)
SESSIONS = Counter("vendfleet_sessions_total", "Sessions reaching a status", ["status"])
UNLOCK_LATENCY = Histogram(
    "vendfleet_unlock_latency_seconds",
    "From a resident's tap to the gateway accepting the unlock",
    buckets=(0.1, 0.25, 0.5, 1, 2, 5, 10, 30),
)
ALARMS_OPEN = Gauge("vendfleet_alarms_open", "Alarms not yet resolved")
INGEST_FAILURES = Counter(
    "vendfleet_ingest_failures_total",
    "Messages an ingest worker failed on unexpectedly (dropped, or kept as dead letters)",
)
