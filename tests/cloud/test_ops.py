"""Telemetry and alarms: rules on synthetic telemetry (both databases), InfluxDB writes on a real server."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.event import listen, remove
from sqlalchemy.orm import Session, sessionmaker

from cloud.db.engine import transaction
from cloud.db.models import Alarm, Cabinet, CabinetTelemetry, TemperatureMinute, User
from cloud.domain import alarms, ingest, ledger, telemetry
from cloud.influx import InfluxSink
from firmware_sim.demo.servers import VictoriaMetricsServer
from protocols.mqtt.schemas import AlarmEvent, DoorReading, Status, Telemetry

T0 = datetime.now(UTC).replace(second=0, microsecond=0)


def sample(minutes: float, temp: float, depth: int = 0) -> Telemetry:
    return Telemetry(
        ts=T0 + timedelta(minutes=minutes),
        temperatures_c=[temp, temp - 0.5],
        outbox_depth=depth,
        doors=[DoorReading(door=0, open=temp > 8, locked=temp <= 8)],
    )


def feed(factory: sessionmaker[Session], code: str, samples: list[Telemetry]) -> None:
    for s in samples:
        with transaction(factory) as db:
            cabinet = db.scalar(select(Cabinet).where(Cabinet.code == code))
            assert cabinet is not None
            telemetry.record(db, cabinet, s)  # the fleet defaults: 8 °C, 10 min, 100, 60 s


def alarm_states(factory: sessionmaker[Session], kind: str) -> list[str]:
    with factory() as db:
        return [a.state for a in db.scalars(select(Alarm).where(Alarm.kind == kind).order_by(Alarm.id))]


def test_warm_chilled_goods_raise_one_alarm_after_the_grace_and_resolve(
    factory: sessionmaker[Session],
) -> None:
    feed(factory, "XH-0001", [sample(0, 4.0), sample(1, 9.5), sample(5, 11.0)])
    assert alarm_states(factory, "temperature_high") == []  # warm, but for less than the grace
    feed(factory, "XH-0001", [sample(m, 12.0) for m in (11, 12, 13)])
    assert alarm_states(factory, "temperature_high") == ["open"]  # once, not three times
    feed(factory, "XH-0001", [sample(14, 6.0)])
    assert alarm_states(factory, "temperature_high") == ["resolved"]


def test_ambient_cabinets_have_no_temperature_alarm(factory: sessionmaker[Session]) -> None:
    feed(factory, "XH-0002", [sample(m, 30.0) for m in (0, 20, 40)])
    assert alarm_states(factory, "temperature_high") == []


def test_roll_ups_keep_min_mean_max_per_minute(factory: sessionmaker[Session]) -> None:
    feed(factory, "XH-0001", [sample(0, 4.0), sample(0.2, 6.0), sample(0.4, 5.0)])
    with factory() as db:
        row = db.scalar(select(TemperatureMinute).where(TemperatureMinute.probe == 0))
        assert row is not None
        assert (row.min_c, row.max_c, row.sum_c / row.samples, row.samples) == (4.0, 6.0, 5.0, 3)


def test_roll_ups_fold_a_batch_and_widen_the_stored_minute(factory: sessionmaker[Session]) -> None:
    """#13: samples of one minute in one batch (one upsert may not touch a row twice), then a later batch."""

    def batch(samples: list[Telemetry]) -> None:
        with transaction(factory) as db:
            cabinet = db.scalar(select(Cabinet).where(Cabinet.code == "XH-0001"))
            assert cabinet is not None
            telemetry.record_many(db, [(cabinet, s) for s in samples])

    batch([sample(0, 4.0), sample(0.2, 6.0), sample(1, 7.0)])
    batch([sample(0.4, 3.0), sample(0.6, 9.0)])  # the door opens above 8 °C
    with factory() as db:
        rows = db.scalars(
            select(TemperatureMinute).where(TemperatureMinute.probe == 0).order_by(TemperatureMinute.minute)
        )
        got = [(r.minute - T0, r.min_c, r.max_c, r.sum_c, r.samples, r.door_open) for r in rows]
    assert got == [
        (timedelta(0), 3.0, 9.0, 22.0, 4, True),
        (timedelta(minutes=1), 7.0, 7.0, 7.0, 1, False),
    ]
    with factory() as db:
        latest = db.get(CabinetTelemetry, cabinet_id(db, "XH-0001"))
        assert latest is not None
        assert latest.payload["temperatures_c"] == [9.0, 8.5]  # the batch's last sample


def cabinet_id(db: Session, code: str) -> int:
    found = db.scalar(select(Cabinet.id).where(Cabinet.code == code))
    assert found is not None
    return found


def test_outbox_backlog_and_offline(factory: sessionmaker[Session]) -> None:
    feed(factory, "XH-0003", [sample(0, 4.0, depth=500)])
    assert alarm_states(factory, "outbox_backlog") == ["open"]
    feed(factory, "XH-0003", [sample(1, 4.0, depth=0)])
    assert alarm_states(factory, "outbox_backlog") == ["resolved"]
    with transaction(factory) as db:
        ingest.on_status(db, "XH-0003", Status(state="offline"))
    assert alarm_states(factory, "offline") == ["open"]
    with transaction(factory) as db:
        ingest.on_status(db, "XH-0003", Status(state="online"))
    assert alarm_states(factory, "offline") == ["resolved"]


def test_a_batch_reads_its_rule_inputs_once_not_per_sample(factory: sessionmaker[Session]) -> None:
    """#13: chilled goods, open alarms and settings are read per batch; the rules judge the same."""
    codes = ["XH-0001", "XH-0002", "XH-0003"]
    selects: list[str] = []

    def count(conn: object, cursor: object, statement: str, *args: object) -> None:
        if statement.lstrip().upper().startswith("SELECT"):
            selects.append(statement)

    def batch(first: int, minutes: int) -> int:
        selects.clear()
        with transaction(factory) as db:
            found = {c.code: c for c in db.scalars(select(Cabinet).where(Cabinet.code.in_(codes)))}
            listen(db.get_bind(), "before_cursor_execute", count)
            try:
                samples = [(found[c], sample(first + m, 12.0, 500)) for m in range(minutes) for c in codes]
                telemetry.record_many(db, samples)
            finally:
                remove(db.get_bind(), "before_cursor_execute", count)
        return len(selects)

    assert batch(0, 2) == batch(100, 20)  # ten times the samples, not one more query
    assert alarm_states(factory, "outbox_backlog") == ["open"] * 3
    with factory() as db:
        chilled = [
            c
            for c in db.scalars(select(Cabinet).where(Cabinet.code.in_(codes)))
            if telemetry.holds_chilled(db, c)
        ]
    assert chilled
    assert alarm_states(factory, "temperature_high") == ["open"] * len(chilled)  # warm past the grace


def test_silence_means_offline(factory: sessionmaker[Session]) -> None:
    feed(factory, "XH-0001", [sample(0, 4.0)])
    with transaction(factory) as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == "XH-0001"))
        assert cabinet is not None
        cabinet.last_seen = datetime.now(UTC) - timedelta(minutes=5)
        telemetry.sweep(db)
        telemetry.sweep(db)
    assert alarm_states(factory, "offline") == ["open"]


def test_one_sweep_judges_each_cabinet_by_its_own_silence(factory: sessionmaker[Session]) -> None:
    """Cabinets sharing a store and its settings are judged alike, an override by itself (one sweep)."""
    now = datetime.now(UTC)
    with transaction(factory) as db:
        cabinets = {c.code: c for c in db.scalars(select(Cabinet).where(Cabinet.store_id == 1))}
        for cabinet in cabinets.values():
            cabinet.online, cabinet.last_seen = True, now
        cabinets["XH-0001"].last_seen = now - timedelta(seconds=45)  # past the floor, within 60 s
        cabinets["XH-0002"].last_seen = now - timedelta(minutes=5)
        cabinets["XH-0003"].last_seen = now - timedelta(minutes=5)
        cabinets["XH-0003"].settings = {"silence_s": 600}
        cabinets["XH-0004"].last_seen = now - timedelta(minutes=2)
        telemetry.sweep(db)
    with factory() as db:
        online = dict(db.execute(select(Cabinet.code, Cabinet.online).where(Cabinet.store_id == 1)).all())
    assert {code for code, up in online.items() if not up} == {"XH-0002", "XH-0004"}


def test_gateway_alarms_open_and_close_and_ops_acknowledge(factory: sessionmaker[Session]) -> None:
    def event(seq: int, state: str) -> AlarmEvent:
        return AlarmEvent(
            event_id=uuid.uuid4(),
            seq=seq,
            cabinet_id="XH-0001",
            alarm="forced_open",
            state=state,  # type: ignore[arg-type]
            door=0,
        )

    with transaction(factory) as db:
        ingest.store_event(db, "XH-0001", event(1, "raised"))
        ingest.store_event(db, "XH-0001", event(2, "raised"))
    assert alarm_states(factory, "forced_open") == ["open"]
    with transaction(factory) as db:
        ops = db.scalar(select(User).where(User.name == "ops"))
        assert ops is not None
        (alarm,) = alarms.listed(db, "open")
        alarms.acknowledge(db, alarm_id=alarm.id, user=ops)
    assert alarm_states(factory, "forced_open") == ["acknowledged"]
    with transaction(factory) as db:
        ingest.store_event(db, "XH-0001", event(3, "cleared"))
    assert alarm_states(factory, "forced_open") == ["resolved"]


def test_low_stock(factory: sessionmaker[Session]) -> None:
    with transaction(factory) as db:
        cabinet = db.scalar(select(Cabinet).where(Cabinet.code == "XH-0001"))
        assert cabinet is not None
        ledger.record(
            db, cabinet_id=cabinet.id, channel=3, lane=0, sku="chicken-salad", delta=-4, kind="sale"
        )
        alarms.check_stock(db, cabinet)
        (alarm,) = alarms.listed(db, "open")
        assert (alarm.kind, alarm.key) == ("low_stock", "3-0")


def test_telemetry_reaches_the_influx_write_api(victoria: VictoriaMetricsServer) -> None:
    sink = InfluxSink(victoria.url, "token", "vendfleet", "telemetry")
    sink.write("XH-0001", "SH-XH-01", sample(0, 4.25))
    sink.close()  # flushes the batch
    assert sink.errors == 0
    (series,) = victoria.export('{__name__="temperature_celsius",probe="0"}')
    assert series["metric"]["cabinet"] == "XH-0001"
    assert series["metric"]["store"] == "SH-XH-01"
    assert series["values"] == [4.25]
    assert victoria.export('{__name__="gateway_outbox_depth"}')[0]["values"] == [0]
