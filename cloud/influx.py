"""Raw telemetry to InfluxDB (v2 write API) with influxdb-client's batching writer."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import structlog
from influxdb_client.client.influxdb_client import InfluxDBClient
from influxdb_client.client.write_api import WriteOptions

from protocols.mqtt.schemas import Telemetry

log = structlog.get_logger("cloud.influx")


def lines(cabinet: str, store: str, sample: Telemetry) -> list[str]:
    """Line protocol, tagged by cabinet, store and sensor (the Grafana dashboard reads these)."""
    tags = f"cabinet={_escape(cabinet)},store={_escape(store)}"
    ns = _ns(sample.ts)
    out = [
        f"temperature,{tags},probe={i} celsius={v} {ns}"
        for i, v in enumerate(sample.temperatures_c)
        if v is not None
    ]
    out += [
        f"door,{tags},door={d.door} open={int(d.open)}i,locked={int(d.locked)}i {ns}" for d in sample.doors
    ]
    out += [
        f"weight,{tags},channel={w.channel} grams={w.grams},stable={int(w.stable)}i,"
        f"fault={int(w.fault)}i {ns}"
        for w in sample.weights
    ]
    compressor = "" if sample.compressor_on is None else f",compressor_on={int(sample.compressor_on)}i"
    out.append(
        f"gateway,{tags} outbox_depth={sample.outbox_depth}i,uptime_s={sample.uptime_s}i{compressor} {ns}"
    )
    return out


def _escape(tag: str) -> str:
    return tag.replace(" ", r"\ ").replace(",", r"\,").replace("=", r"\=")


def _ns(ts: datetime) -> int:
    return int(ts.timestamp() * 1_000_000_000)


class InfluxSink:
    def __init__(self, url: str, token: str, org: str, bucket: str) -> None:
        self._client = InfluxDBClient(url=url, token=token, org=org)
        self._bucket = bucket
        self.errors = 0
        # The batching writer never raises: errors arrive here.
        self._write = self._client.write_api(
            write_options=WriteOptions(batch_size=500, flush_interval=1_000), error_callback=self._failed
        )

    def _failed(self, conf: Any, data: Any, exc: Exception) -> None:
        self.errors += 1
        log.error("influx write failed", error=str(exc))

    def write(self, cabinet: str, store: str, sample: Telemetry) -> None:
        self.write_many([(cabinet, store, sample)])

    def write_many(self, samples: list[tuple[str, str, Telemetry]]) -> None:
        """One call per ingest batch; the client's own thread batches and sends (never the caller's)."""
        records = [line for cabinet, store, sample in samples for line in lines(cabinet, store, sample)]
        if records:
            self._write.write(bucket=self._bucket, record=records)

    def close(self) -> None:
        self._write.close()  # type: ignore[no-untyped-call]  # flushes what is batched
        self._client.close()  # type: ignore[no-untyped-call]
