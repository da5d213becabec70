"""`vendfleet chaos`: the demo population shops and restocks while a seeded schedule breaks things.

The fleet runs as in production, one process per part: a real Mosquitto, PostgreSQL, the cloud
API (with one ingest worker inside), separate ingest workers, and a simulator and a gateway per
cabinet. Each gateway reaches the broker through its own TCP proxy (its network) and its boards
through its own relayed pty (its serial cable), so both can fail. At the end the fleet is left to
settle, then reckoned: the ledger against the physical truth, every charge against what was taken.
"""

from __future__ import annotations

import functools
import json
import signal
import sqlite3
import subprocess
import threading
import time
from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import paho.mqtt.client as mqtt
import yaml
from paho.mqtt.enums import CallbackAPIVersion

from firmware_sim.demo.chaos_plan import Fault, Kind, plan
from firmware_sim.demo.processes import Children, wait_http
from firmware_sim.demo.run import FIXTURE, CabinetRun, Demo, DemoOptions, console
from firmware_sim.demo.serial_cable import SerialCable
from firmware_sim.demo.servers import MosquittoServer, PostgresServer, free_port
from firmware_sim.demo.tcp_proxy import TcpProxy

NOISE = 0.01  # share of serial bytes with a bit flipped during a noise window
# As deployed (deploy/compose/mosquitto): retained configs and persistent sessions survive a restart.
BROKER_CONF = "persistence true\npersistence_location {dir}/\nautosave_interval 5\n"


@dataclass
class ChaosOptions:
    duration: float = 1500.0  # seconds of faults; the fleet then settles and is reckoned
    seed: int = 1
    cabinets: int = 6
    cut_for: float | None = None  # one cabinet's network outage; default 40 % of the run (15 s - 11 min)
    ingest_workers: int = 2  # separate processes, besides the one inside the API
    db: str | None = None  # a fresh database; none: a private PostgreSQL
    data_dir: Path = Path("var/chaos")
    speed: float = 1.0
    settle: float = 150.0  # at most this long for the last sessions and events after the faults

    @property
    def outage(self) -> float:
        return self.cut_for if self.cut_for is not None else min(max(0.4 * self.duration, 15.0), 660.0)


@dataclass
class Service:
    """A child process we kill and start again with the same arguments."""

    children: Children
    name: str
    args: tuple[str, ...]
    proc: subprocess.Popen[str] | None = None

    def start(self) -> None:
        self.proc, _ = self.children.spawn(self.name, *self.args)

    def kill(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGKILL)
            self.proc.wait()


class EventWatch:
    """Listens to every cabinet's events on the broker: how often each one went by."""

    def __init__(self, host: str, port: int) -> None:
        self.seen: Counter[str] = Counter()
        self.arrived = threading.Event()
        self._client = mqtt.Client(CallbackAPIVersion.VERSION2, client_id=f"vf-chaos-watch-{port}")
        self._client.reconnect_delay_set(min_delay=1, max_delay=5)  # back soon after a broker kill
        self._client.on_connect = lambda c, *_: c.subscribe("vf/v1/+/events", qos=1)
        self._client.on_message = self._on_message
        self._client.connect_async(host, port, keepalive=10)
        self._client.loop_start()

    def _on_message(self, client: mqtt.Client, userdata: object, message: mqtt.MQTTMessage) -> None:
        try:
            self.seen[str(json.loads(message.payload)["event_id"])] += 1
        except (ValueError, KeyError, TypeError):
            self.seen["(unreadable)"] += 1
        self.arrived.set()

    @property
    def resent(self) -> int:
        return sum(self.seen.values()) - len(self.seen)

    def close(self) -> None:
        self._client.loop_stop()
        self._client.disconnect()


@dataclass
class ChaosFleet(Demo):
    chaos: ChaosOptions = field(default_factory=ChaosOptions)
    broker: MosquittoServer | None = None
    postgres: PostgresServer | None = None
    services: dict[str, Service] = field(default_factory=dict)
    proxies: dict[str, TcpProxy] = field(default_factory=dict)
    cables: dict[str, SerialCable] = field(default_factory=dict)
    watch: EventWatch | None = None
    balances_at_start: dict[str, int] = field(default_factory=dict)

    # -- start-up: the production shape --------------------------------------------------

    def start(self) -> None:
        data, o = self.options.data_dir.resolve(), self.options
        self.db_url = self.chaos.db or self._private_postgres()
        self.broker = MosquittoServer(BROKER_CONF)
        self.broker.stop_signal = signal.SIGKILL  # every broker stop here is a crash
        self.broker.start()
        self.mqtt_url = self.broker.url
        self.watch = EventWatch("127.0.0.1", self.broker.port)
        self.cloud_url = f"http://127.0.0.1:{o.port or free_port()}"
        with console.status("seeding the demo fleet…"):
            self.children.run("cloud", "seed", str(FIXTURE), "--db", self.db_url)
        keys = str(data / "keys")
        port = self.cloud_url.rpartition(":")[2]
        serve = ("cloud", "serve", "--db", self.db_url, "--mqtt", self.mqtt_url, "--port", port)
        api = self._service("api", (*serve, "--key-dir", keys, "--dev-show-otp"))
        assert api.proc is not None
        wait_http(f"{self.cloud_url}/healthz", api.proc, 180)  # a loaded machine starts slowly
        for n in range(self.chaos.ingest_workers):
            ingest = ("cloud", "ingest", "--db", self.db_url, "--mqtt", self.mqtt_url, "--key-dir", keys)
            self._service(f"ingest-{n}", ingest)
        key = data / "cloud-public.pem"
        key.write_bytes(httpx.get(f"{self.cloud_url}/api/v1/keys/commands").content)
        for n, c in enumerate(yaml.safe_load(FIXTURE.read_text())["cabinets"][: o.cabinets]):
            with console.status(f"starting cabinet {c['code']}: simulator, cable, network, gateway…"):
                self.cabinets.append(self._cabinet(c["code"], c["layout"], key, o.seed + n))
        self._wait_online()
        self.store_stock_at_start = self._store_stock()
        self.balances_at_start = self._balances()

    def _private_postgres(self) -> str:
        self.postgres = PostgresServer().start()
        return self.postgres.create_database("vendfleet")

    def _service(self, name: str, args: tuple[str, ...]) -> Service:
        service = self.services[name] = Service(self.children, name, args)
        service.start()
        return service

    def _cabinet(self, code: str, layout: str, key: Path, seed: int) -> CabinetRun:
        o, broker = self.options, self.broker
        assert broker is not None
        sim = ("sim", "cabinet", "--layout", layout, "--serial", "pty", "--control", "127.0.0.1:0")
        _, lines = self.children.spawn(
            f"sim-{code}", *sim, "--seed", str(seed), "--speed", str(o.speed), read_lines=2
        )
        serial, control = lines[0].removeprefix("serial: "), lines[1].removeprefix("control: ")
        cable = self.cables[code] = SerialCable(serial, o.data_dir.resolve() / f"tty-{code}").plug()
        proxy = self.proxies[code] = TcpProxy(("127.0.0.1", broker.port)).start()
        gateway = ("gateway", "run", "--cabinet-id", code, "--serial", str(cable.path), "--mqtt", proxy.url)
        self._service(
            f"gateway-{code}",
            (*gateway, "--data-dir", str(o.data_dir / f"gw-{code}"), "--cloud-key", str(key)),
        )
        return CabinetRun(code, layout, serial, control)

    # -- the faults ----------------------------------------------------------------------

    def strike(self, fault: Fault) -> None:
        assert self.broker is not None
        match fault.kind:
            case Kind.BROKER_KILL:
                self.broker.stop()
            case Kind.API_KILL:
                self.services["api"].kill()
            case Kind.INGEST_KILL:
                assert self.watch is not None
                self.watch.arrived.clear()  # mid-batch: right as the next event comes in
                self.watch.arrived.wait(5)
                self.services[fault.target].kill()
            case Kind.GATEWAY_KILL:
                self.services[f"gateway-{fault.target}"].kill()
            case Kind.NETWORK_CUT:
                self.proxies[fault.target].cut()
            case Kind.SERIAL_NOISE:
                self._sim_faults(fault.target, NOISE)
            case Kind.SERIAL_UNPLUG:
                self.cables[fault.target].unplug()

    def repair(self, fault: Fault) -> None:
        assert self.broker is not None
        match fault.kind:
            case Kind.BROKER_KILL:
                self.broker.start()
            case Kind.API_KILL | Kind.INGEST_KILL:
                self.services[fault.target].start()
            case Kind.GATEWAY_KILL:
                self.services[f"gateway-{fault.target}"].start()
            case Kind.NETWORK_CUT:
                self.proxies[fault.target].restore()
            case Kind.SERIAL_NOISE:
                self._sim_faults(fault.target, 0.0)
            case Kind.SERIAL_UNPLUG:
                self.cables[fault.target].plug()

    def _sim_faults(self, code: str, corrupt: float) -> None:
        control = next(c.control_url for c in self.cabinets if c.code == code)
        httpx.post(f"{control}/faults", json={"corrupt": corrupt}, timeout=10).raise_for_status()

    # -- settling and the truth ----------------------------------------------------------

    def settle(self, timeout: float) -> float:
        """Wait until no session is live and every outbox is empty; the seconds it took."""
        started = time.monotonic()
        while time.monotonic() - started < timeout:
            if not self._live_sessions() and not any(self._outbox(c.code) for c in self.cabinets):
                break
            time.sleep(1)
        return time.monotonic() - started

    def _live_sessions(self) -> list[str]:
        return [sid for sid, visit in self._books()["visits"].items() if visit["live"]]

    def _outbox(self, code: str) -> int:
        path = self.options.data_dir / f"gw-{code}" / "gateway.db"
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=5) as conn:
            return int(conn.execute("SELECT count(*) FROM outbox").fetchone()[0])

    def _books(self) -> dict[str, Any]:
        """What the cloud believes, as `vendfleet cloud books` prints it (the cloud's tables are its own)."""
        return dict(json.loads(self.children.run("cloud", "books", "--db", self.db_url)))

    def _balances(self) -> dict[str, int]:
        return {name: r["balance_fen"] for name, r in self._books()["residents"].items()}

    def resolve_reviews(self) -> int:
        """Ops settle the review queue with what was really taken, as the weight trace would show."""
        self._catch_up_visits()
        ops = self._staff_token("ops", "ops-demo")
        resolved = 0
        for visit in (v for v in self.tally.visits if v.status == "review"):
            control = next(c.control_url for c in self.cabinets if c.code == visit.cabinet)
            state = httpx.get(f"{control}/state", timeout=10).json()
            where = {
                lane["sku"]: (c["channel"], lane["lane"]) for c in state["channels"] for lane in c["lanes"]
            }
            lanes = [
                {"channel": where[sku][0], "lane": where[sku][1], "sku": sku, "delta": -n}
                for sku, n in visit.taken.items()
            ]
            decision = {"lanes": lanes} if lanes else {"dismiss": True}
            url = f"{self.cloud_url}/api/v1/sessions/{visit.session_id}/review"
            resolved += httpx.post(url, json=decision, headers=ops, timeout=20).status_code == 200
        return resolved

    def reckon(self) -> Reckoning:
        """What the cloud believes against what happened."""
        found = Reckoning(differences=[], reviewed=self.resolve_reviews())
        books = self._books()
        self._catch_up_visits(books)
        found.differences = self.reconcile()
        visits = books["visits"].values()
        found.sessions = dict(Counter(f"{v['mode']} {v['status']}" for v in visits))
        found.events_stored = books["events_stored"]
        found.alarms_raised = Counter(books["alarms_raised"])
        found.alarms_resolved = Counter(books["alarms_resolved"])
        captures = books["captures"].items()
        found.double_charged = [f"session {sid}: charged {n} times" for sid, n in captures if n > 1]
        found.still_live = [f"session {sid}" for sid, v in books["visits"].items() if v["live"]]
        found.lost = self._lost_sales()
        money = self._money(books["residents"], books["prices_fen"])
        found.overcharged, found.undercharged, found.held = money
        found.visits = Counter(v.status for v in self.tally.visits)
        return found

    def _catch_up_visits(self, books: dict[str, Any] | None = None) -> None:
        """A resident who gave up waiting learns the end of the story here."""
        known = (books or self._books())["visits"]
        for visit in self.tally.visits:
            if visit.session_id is None:
                continue
            session = known.get(visit.session_id)
            if session is None:
                visit.status = "missing"
                continue
            visit.status, visit.amount_fen = session["status"], session["amount_fen"]
            visit.charged = Counter(session["items"])

    def _lost_sales(self) -> list[str]:
        """Items physically taken in a session the cloud never charged nor sent to review."""
        return [
            f"session {v.session_id} ({v.cabinet}): took {dict(v.taken)}, cloud says {v.status}"
            for v in self.tally.visits
            if v.taken and v.status not in ("settled", "choose", "review")
        ]

    def _money(self, residents: dict[str, dict[str, int]], prices: dict[str, int]) -> tuple[list[str], ...]:
        """Each resident's balance moved by exactly the price of what they took; no hold left."""
        paid: Counter[str] = Counter()
        for visit in self.tally.visits:
            if visit.status == "settled":
                paid[visit.resident] += sum(prices[sku] * n for sku, n in visit.taken.items())
        over: list[str] = []
        under: list[str] = []
        held: list[str] = []
        for name, money in residents.items():
            moved = self.balances_at_start.get(name, 0) + self.tally.top_ups[name] - money["balance_fen"]
            line = f"{name}: balance moved {moved} fen for {paid[name]} fen of goods"
            (over if moved > paid[name] else under if moved < paid[name] else []).append(line)
            if money["held_fen"]:
                held.append(f"{name}: {money['held_fen']} fen still held")
        return over, under, held

    def close(self) -> None:
        if self.watch:
            self.watch.close()
        for proxy in self.proxies.values():
            proxy.stop()
        self.children.stop()
        for cable in self.cables.values():
            cable.close()
        if self.broker:
            self.broker.cleanup()
        if self.postgres:
            self.postgres.cleanup()


@dataclass
class Reckoning:
    differences: list[str]
    reviewed: int = 0  # sessions the weights could not settle, resolved by ops
    still_live: list[str] = field(default_factory=list)  # after the fleet had time to settle
    lost: list[str] = field(default_factory=list)  # taken, but neither charged nor in review
    double_charged: list[str] = field(default_factory=list)
    overcharged: list[str] = field(default_factory=list)
    undercharged: list[str] = field(default_factory=list)
    held: list[str] = field(default_factory=list)  # holds neither captured nor released
    sessions: dict[str, int] = field(default_factory=dict)
    visits: Counter[str] = field(default_factory=Counter)
    events_stored: int = 0
    alarms_raised: Counter[str] = field(default_factory=Counter)
    alarms_resolved: Counter[str] = field(default_factory=Counter)

    @property
    def clean(self) -> bool:
        found = (self.differences, self.still_live, self.lost, self.double_charged, self.overcharged)
        return not any(found) and not (self.undercharged or self.held)


class Injector:
    """Plays the schedule: each fault struck at its time and repaired when it has lasted."""

    def __init__(self, fleet: ChaosFleet, faults: list[Fault]) -> None:
        self.fleet = fleet
        steps = [(f.at, 0, f) for f in faults] + [(f.ends, 1, f) for f in faults]
        self._steps = sorted(steps, key=lambda s: (s[0], s[1]))
        self.struck: Counter[Kind] = Counter()
        self.errors: list[str] = []
        self._open: list[Fault] = []
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._play, name="chaos", daemon=True)
        self._started = 0.0

    def start(self) -> Injector:
        self._started = time.monotonic()
        self._thread.start()
        return self

    def _play(self) -> None:
        for at, repair, fault in self._steps:
            if self._stop.wait(max(0.0, self._started + at - time.monotonic())):
                return
            self._do(fault, repair=bool(repair))

    def _do(self, fault: Fault, *, repair: bool) -> None:
        now = time.monotonic() - self._started
        try:
            if repair:
                if fault in self._open:
                    self._open.remove(fault)
                    self.fleet.repair(fault)
                    console.log(f"{now:7.1f} s  repaired  {fault.kind} {fault.target}")
            else:
                self.fleet.strike(fault)
                self._open.append(fault)
                self.struck[fault.kind] += 1
                console.log(f"{now:7.1f} s  {fault.kind:<14} {fault.target} for {fault.lasts:.0f} s")
        except Exception as exc:  # a harness failure is reported, not silently skipped
            self.errors.append(f"{fault.kind} {fault.target}: {exc!r}")
            console.log(f"[red]{fault.kind} {fault.target}: {exc!r}[/]")

    def finish(self) -> None:
        """Stop striking and repair whatever is still broken."""
        self._stop.set()
        self._thread.join(30)
        for fault in list(self._open):
            self._do(fault, repair=True)


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt  # SIGTERM as Ctrl-C: the finally below stops every child


def run_chaos(options: ChaosOptions) -> int:
    signal.signal(signal.SIGTERM, _interrupt)
    demo_options = DemoOptions(
        cabinets=options.cabinets,
        speed=options.speed,
        duration=options.duration,
        browser=False,
        data_dir=options.data_dir,
        port=0,
        seed=options.seed,
    )
    fleet = ChaosFleet(demo_options, chaos=options)
    injector: Injector | None = None
    try:
        fleet.start()
        faults = plan(
            options.seed,
            options.duration,
            [c.code for c in fleet.cabinets],
            options.ingest_workers,
            options.outage,
        )
        console.print(
            f"[bold]chaos day[/] seed {options.seed}: {len(faults)} faults in {options.duration:.0f} s"
        )
        fleet.residents()
        fleet.restock()
        injector = Injector(fleet, faults).start()
        fleet.stop.wait(options.duration)
        injector.finish()
        fleet.stop.set()
        with console.status("letting the last residents finish their visit…"):
            for thread in fleet.shoppers:
                thread.join(90)
        with console.status("letting the fleet settle…"):
            settled_in = fleet.settle(options.settle)
        found = fleet.reckon()
        _report(fleet, injector, found, settled_in)
        return 0 if found.clean and not injector.errors else 1
    except KeyboardInterrupt:
        console.print("stopped")
        return 130
    finally:
        fleet.stop.set()
        if injector is not None:
            injector.finish()
        fleet.close()


def _report(fleet: ChaosFleet, injector: Injector, found: Reckoning, settled_in: float) -> None:
    assert fleet.watch is not None
    say = functools.partial(console.print, soft_wrap=True)  # one line each, for grep and tests
    r = fleet.restocker
    console.rule("chaos day: the reckoning")
    say(f"visits by residents: {sum(found.visits.values())}  {_counts(found.visits)}")
    refusals = Counter(v.detail for v in fleet.tally.visits if v.session_id is None)
    for reason, n in refusals.most_common():
        say(f"  {n} × {reason}")
    say(f"sessions in the cloud: {sum(found.sessions.values())}  {_counts(found.sessions)}")
    say(f"sent to review by the gateway, resolved by ops as taken: {found.reviewed}")
    if r is not None:
        say(f"restock rounds: {r.rounds}, loaded {r.loaded}, pulled {r.pulled}")
    say(f"faults injected: {sum(injector.struck.values())}  {_counts(injector.struck)}")
    say(
        f"events: {found.events_stored} stored; {fleet.watch.resent} sent again "
        f"({sum(fleet.watch.seen.values())} seen on the broker for {len(fleet.watch.seen)} distinct)"
    )
    say(
        f"alarms raised: {found.alarms_raised.total()}  {_counts(found.alarms_raised)}; "
        f"resolved: {found.alarms_resolved.total()}  {_counts(found.alarms_resolved)}"
    )
    say(f"settled {settled_in:.0f} s after the last fault")
    sections = [
        ("ledger vs physical truth, charges vs takes", found.differences),
        ("sessions still live", found.still_live),
        ("sessions lost (taken, never charged)", found.lost),
        ("charged twice", found.double_charged),
        ("residents overcharged", found.overcharged),
        ("residents undercharged", found.undercharged),
        ("holds left", found.held),
        ("harness errors", injector.errors),
    ]
    for title, lines in sections:
        colour = "green" if not lines else "red"
        say(f"[{colour}]{title}: {len(lines)} differences[/]")
        for line in lines:
            say(f"  - {line}")


def _counts(counter: Counter[Any] | dict[str, int]) -> str:
    return ", ".join(f"{k} {n}" for k, n in sorted(counter.items(), key=lambda kv: str(kv[0])))
