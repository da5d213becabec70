"""The demo: cloud, one simulator and one gateway per cabinet, scripted residents, a reconciliation."""

from __future__ import annotations

import json
import os
import random
import shutil
import signal
import socket
import sys
import threading
import time
import webbrowser
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import yaml
from rich.console import Console
from rich.live import Live
from rich.table import Table

from firmware_sim.demo.processes import ChildFailed, Children, wait_http
from firmware_sim.demo.residents import Resident, StoreCounter, Tally, sign_in
from firmware_sim.demo.restocker import Restocker

console = Console()
# The demo fleet (stores, cabinets of the simulator's layouts, users): `vendfleet cloud seed` loads it.
FIXTURE = Path(__file__).parent / "fleet.yaml"
BEHAVIOURS = ["take"] * 24 + ["put_back"] * 6 + ["leave_open", "force"]


def busyness(hour: float) -> float:
    """Shoppers per hour relative to the day's average: breakfast and after-work peaks."""
    if 7 <= hour < 9 or 17 <= hour < 21:
        return 2.0
    if 0 <= hour < 6:
        return 0.2
    return 1.0


@dataclass
class DemoOptions:
    cabinets: int = 6
    speed: float = 1.0
    duration: float | None = None
    browser: bool = True
    manifest: Path | None = None
    data_dir: Path = Path("var/demo")
    port: int = 8000
    residents: bool = True
    seed: int = 1


@dataclass
class CabinetRun:
    code: str
    layout: str
    serial: str
    control_url: str
    id: int = 0


@dataclass
class Demo:
    options: DemoOptions
    children: Children = field(init=False)
    cloud_url: str = ""
    mqtt_url: str = ""
    db_url: str = ""
    cabinets: list[CabinetRun] = field(default_factory=list)
    tally: Tally = field(default_factory=Tally)
    stop: threading.Event = field(default_factory=threading.Event)
    started: float = field(default_factory=time.monotonic)
    start_hour: float = 7.0  # the simulated day starts at 07:00
    forced: int = 0
    store_stock_at_start: int = 0
    shoppers: list[threading.Thread] = field(default_factory=list)
    locks: dict[str, threading.Lock] = field(default_factory=dict)
    restocker: Restocker | None = None

    def __post_init__(self) -> None:
        data = self.options.data_dir
        shutil.rmtree(data, ignore_errors=True)  # every demo starts from the fixture
        data.mkdir(parents=True)
        self.children = Children(data)

    # -- start-up ------------------------------------------------------------------------

    def start(self) -> None:
        data, o = self.options.data_dir.resolve(), self.options
        self.db_url = f"sqlite:///{data / 'cloud.db'}"
        with console.status("seeding the demo fleet…"):
            self.children.run("cloud", "seed", str(FIXTURE), "--db", self.db_url)
        with console.status("starting the cloud and its embedded MQTT broker…"):
            cloud, lines = self.children.spawn(
                "cloud",
                "cloud",
                "serve",
                "--db",
                self.db_url,
                "--mqtt-port",
                str(_free_port()),
                "--port",
                str(o.port),
                "--key-dir",
                str(data / "keys"),
                "--dev-show-otp",
                read_lines=2,
            )
            # Where our own child listens, as it says once both ports are its own.
            self.cloud_url, self.mqtt_url = lines[0].removeprefix("cloud: "), lines[1].removeprefix("mqtt: ")
            wait_http(f"{self.cloud_url}/healthz", cloud, 60)
        key = data / "cloud-public.pem"
        key.write_bytes(httpx.get(f"{self.cloud_url}/api/v1/keys/commands").content)
        cabinets = yaml.safe_load(FIXTURE.read_text())["cabinets"][: o.cabinets]
        for n, c in enumerate(cabinets):
            with console.status(f"starting cabinet {c['code']} ({c['layout']}): simulator and gateway…"):
                self.cabinets.append(self._start_cabinet(c["code"], c["layout"], key, o.seed + n))
        self._wait_online()
        self.store_stock_at_start = self._store_stock()

    def _start_cabinet(self, code: str, layout: str, key: Path, seed: int) -> CabinetRun:
        o = self.options
        _, lines = self.children.spawn(
            f"sim-{code}",
            "sim",
            "cabinet",
            "--layout",
            layout,
            "--serial",
            "pty",
            "--control",
            "127.0.0.1:0",
            "--seed",
            str(seed),
            "--speed",
            str(o.speed),
            read_lines=2,
        )
        serial, control = lines[0].removeprefix("serial: "), lines[1].removeprefix("control: ")
        self.children.spawn(
            f"gateway-{code}",
            "gateway",
            "run",
            "--cabinet-id",
            code,
            "--serial",
            serial,
            "--mqtt",
            self.mqtt_url,
            "--data-dir",
            str(o.data_dir / f"gw-{code}"),
            "--cloud-key",
            str(key),
        )
        return CabinetRun(code, layout, serial, control)

    def _wait_online(self) -> None:
        token = self._staff_token("ops", "ops-demo")
        with console.status("waiting for every cabinet to come online…"):
            for _ in range(120):
                listed = httpx.get(f"{self.cloud_url}/api/v1/cabinets", headers=token).json()
                if all(c["online"] for c in listed if c["code"] in {r.code for r in self.cabinets}):
                    ids = {c["code"]: c["id"] for c in listed}
                    for run in self.cabinets:
                        run.id = ids[run.code]
                    return
                time.sleep(0.5)
        raise RuntimeError("cabinets did not come online; see the logs in " + str(self.options.data_dir))

    def _staff_token(self, user: str, password: str) -> dict[str, str]:
        answer = httpx.post(
            f"{self.cloud_url}/api/v1/auth/login", json={"username": user, "password": password}
        )
        return {"Authorization": f"Bearer {answer.json()['token']}"}

    def _store_stock(self) -> int:
        staff = self._staff_token("staff", "staff-demo")
        return sum(httpx.get(f"{self.cloud_url}/api/v1/stores/1/inventory", headers=staff).json().values())

    def manifest(self) -> dict[str, Any]:
        users = yaml.safe_load(FIXTURE.read_text())["users"]
        return {
            "cloud_url": self.cloud_url,
            "db_url": self.db_url,
            "mqtt_url": self.mqtt_url,
            "cabinets": [
                {
                    "id": c.id,
                    "code": c.code,
                    "layout": c.layout,
                    "control_url": c.control_url,
                    "serial": c.serial,
                }
                for c in self.cabinets
            ],
            "users": [{"name": u["name"], "role": u["role"], "phone": u.get("phone")} for u in users],
        }

    # -- the living fleet ----------------------------------------------------------------

    def residents(self) -> None:
        """The scripted residents: accounts of their own (`scripted: true`), never the README's phone."""
        users = [u for u in yaml.safe_load(FIXTURE.read_text())["users"] if u.get("scripted")]
        staff = self._staff_token("staff", "staff-demo")["Authorization"].removeprefix("Bearer ")
        counter = StoreCounter(self.cloud_url, staff, self.tally)
        people = [(u["name"], u["phone"], sign_in(self.cloud_url, u["phone"])) for u in users]
        for n, run in enumerate(self.cabinets):
            rng = random.Random(self.options.seed * 100 + n)
            args = (self._shoppers, run, people, counter, rng)
            thread = threading.Thread(target=self._quiet_when_stopped, args=args, daemon=True)
            thread.start()
            self.shoppers.append(thread)

    def _quiet_when_stopped(self, work: Callable[..., None], *args: Any) -> None:
        """A visit cut short by a stop fails against a cloud that is gone: not worth a traceback."""
        try:
            work(*args)
        except (httpx.HTTPError, OSError):
            if not self.stop.is_set():
                raise

    def busy(self, code: str) -> threading.Lock:
        return self.locks.setdefault(code, threading.Lock())

    def _shoppers(
        self, run: CabinetRun, users: list[tuple[str, str, str]], counter: StoreCounter, rng: random.Random
    ) -> None:
        people = [Resident(self.cloud_url, t, name, phone, self.stop, counter) for name, phone, t in users]
        while not self.stop.is_set():
            person, behaviour = rng.choice(people), rng.choice(BEHAVIOURS)
            if behaviour == "force" and run is self.cabinets[-1]:
                self._vandal(run)
            else:
                with self.busy(run.code):
                    self.tally.add(person.shop(run.code, run.control_url, rng, behaviour))
            # Busy mornings and evenings, quiet nights, on the simulated clock.
            self.stop.wait(rng.uniform(2, 8) / busyness(self.sim_hour()) / max(1.0, self.options.speed**0.5))
        for person in people:
            person.close()

    def _vandal(self, run: CabinetRun) -> None:
        """Once in a while someone yanks a locked door open: a forced_open alarm."""
        with self.busy(run.code), httpx.Client(base_url=run.control_url, timeout=10) as world:
            if world.post("/doors/0/open", json={"force": True}).status_code == 200:
                self.forced += 1
                self.stop.wait(3)
                world.post("/doors/0/close")

    def sim_hour(self) -> float:
        elapsed = (time.monotonic() - self.started) * self.options.speed
        return (self.start_hour + elapsed / 3600) % 24

    def restock(self) -> None:
        controls = {c.code: c.control_url for c in self.cabinets}
        self.restocker = Restocker(self.cloud_url, controls, self.stop, self.busy)
        thread = threading.Thread(
            target=self._quiet_when_stopped, args=(self.restocker.run, 20.0), daemon=True
        )
        thread.start()
        self.shoppers.append(thread)  # joined with the shoppers at the end

    def progress(self) -> Table:
        table = Table(title=f"vendfleet demo · {self.cloud_url}")
        for column in ("sim time", "visits", "settled", "review", "refused", "sales", "forced", "restock"):
            table.add_column(column, justify="right")
        t, r = self.tally, self.restocker
        hour = self.sim_hour()
        table.add_row(
            f"{int(hour):02d}:{int(hour % 1 * 60):02d}",
            str(t.count()),
            str(t.count("settled")),
            str(t.count("review")),
            str(t.count("refused")),
            f"¥{t.sales_fen() / 100:.2f}",
            str(self.forced),
            f"{r.rounds} rounds, {r.loaded} pcs" if r else "-",
        )
        return table

    # -- the end -------------------------------------------------------------------------

    def reconcile(self) -> list[str]:
        """Ledger vs physical truth per lane, and charged vs taken per visit; the differences."""
        differences = []
        for run in self.cabinets:
            stock = httpx.get(f"{self.cloud_url}/api/v1/cabinets/{run.code}/stock").json()
            ledger = {(s["channel"], s["lane"]): s["count"] for s in stock}
            state = httpx.get(f"{run.control_url}/state").json()
            truth = {
                (c["channel"], lane["lane"]): lane["count"] for c in state["channels"] for lane in c["lanes"]
            }
            differences += [
                f"{run.code} lane {k}: ledger {ledger.get(k)} vs physical {truth.get(k)}"
                for k in sorted(set(ledger) | set(truth))
                if ledger.get(k) != truth.get(k)
            ]
        if self.restocker is not None:
            moved = self.store_stock_at_start - self._store_stock()
            if moved != self.restocker.loaded - self.restocker.pulled:
                differences.append(
                    f"store inventory moved {moved}, restock staff loaded "
                    f"{self.restocker.loaded} and pulled {self.restocker.pulled}"
                )
        for visit in self.tally.visits:
            if visit.status == "settled" and Counter(visit.charged) != visit.taken:
                differences.append(
                    f"session {visit.session_id}: took {dict(visit.taken)}, charged {dict(visit.charged)}"
                )
        return differences


def run_demo(options: DemoOptions) -> int:
    """Exit code 0 when the reconciliation finds nothing, or when stopped by SIGTERM or SIGINT
    (within 2 s, children stopped; no reconciliation of visits cut short); 1 otherwise."""
    taken = _taken_port(options.port)
    if taken:
        print(f"vendfleet demo: {taken}; stop what uses it or choose another with --port", file=sys.stderr)
        return 1
    demo = Demo(options)
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)  # as Ctrl-C
    try:
        return _run(demo)
    except KeyboardInterrupt:
        demo.stop.set()
        console.print("stopped by a signal: visits cut short, so no reconciliation")
        return 0
    except ChildFailed as exc:
        demo.stop.set()
        print(f"vendfleet demo: {exc} (logs in {options.data_dir}/)", file=sys.stderr)
        return 1
    finally:
        for sig in (signal.SIGTERM, signal.SIGINT):  # stopping is bounded: no second interruption
            signal.signal(sig, signal.SIG_IGN)
        demo.stop.set()
        demo.children.stop()
        signal.signal(signal.SIGTERM, previous)
        signal.signal(signal.SIGINT, signal.default_int_handler)


def _run(demo: Demo) -> int:
    options = demo.options
    demo.start()
    if options.manifest:
        options.manifest.write_text(json.dumps(demo.manifest(), ensure_ascii=False, indent=2))
    _announce(demo)
    if options.residents:
        demo.residents()
        demo.restock()
    _watch(demo, time.monotonic() + options.duration if options.duration else None)
    demo.stop.set()
    with console.status("letting the last residents finish their visit…"):
        for thread in demo.shoppers:
            thread.join(90)
    return 1 if _final_report(demo) else 0


def _watch(demo: Demo, deadline: float | None) -> None:
    """The table in place on a terminal (gone at the end: the final report prints it once); into a
    log or a pipe, where nothing can be redrawn, a table every 30 s."""

    def running() -> bool:
        return deadline is None or time.monotonic() < deadline

    if console.is_terminal:
        with Live(demo.progress(), console=console, refresh_per_second=2, transient=True) as live:
            while running():
                live.update(demo.progress())
                time.sleep(0.5)
        return
    printed = time.monotonic()
    while running():
        time.sleep(0.5)
        if time.monotonic() - printed >= 30:
            console.print(demo.progress())
            printed = time.monotonic()


def _announce(demo: Demo) -> None:
    first = demo.cabinets[0].code
    console.print(
        f"[bold]resident page[/]  {demo.cloud_url}/c/{first}"
        "   (phone 13800138000; the demo shows the SMS code on the page)"
    )
    console.print(f"[bold]restock[/]        {demo.cloud_url}/s/{first}   (staff / staff-demo)")
    console.print(f"[bold]pick list[/]      {demo.cloud_url}/staff/stores/1/picklist   (staff / staff-demo)")
    console.print(f"[bold]ops[/]            {demo.cloud_url}/ops   (ops / ops-demo)")
    console.print(f"[bold]API docs[/]       {demo.cloud_url}/docs")
    console.print(f"[bold]logs[/]           {demo.options.data_dir}/")
    if demo.options.browser:
        webbrowser.open(f"{demo.cloud_url}/c/{first}")


def _final_report(demo: Demo) -> list[str]:
    if not demo.cabinets:
        return []
    time.sleep(1)
    try:
        differences = demo.reconcile()
    except httpx.HTTPError as exc:
        console.print(f"[red]reconciliation impossible: {exc}[/]")
        return ["unreachable"]
    console.print(demo.progress())
    if differences:
        console.print("[red]reconciliation: differences[/]")
        for line in differences:
            console.print(f"  - {line}")
    else:
        console.print(
            "[green]reconciliation: every lane's ledger equals the physical truth, "
            "and every settled session charged exactly what was taken[/]"
        )
    return differences


def _taken_port(port: int) -> str | None:
    """Why the cloud could not listen on `port`, or None. Checked before anything starts, so that
    the demo never shops against a server it did not start."""
    try:
        socket.create_server(("127.0.0.1", port)).close()
    except OSError as exc:
        return f"cannot use port {port} on 127.0.0.1: {os.strerror(exc.errno) if exc.errno else exc}"
    return None


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])
