"""The demo's restock staff: when the pick list asks for enough, they do a round through the staff API."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import httpx

from firmware_sim.demo.residents import client

ROUND_WHEN = 12  # pieces the pick list asks for before a round is worth the drive


@dataclass
class Restocker:
    cloud: str
    controls: dict[str, str]  # cabinet code → world-control URL
    stop: threading.Event
    busy: Callable[[str], threading.Lock]  # one visitor at a cabinet at a time
    rounds: int = 0
    loaded: int = 0
    pulled: int = 0
    log: list[str] = field(default_factory=list)

    def run(self, check_every: float) -> None:
        with client(self.cloud) as http:
            token = http.post("/api/v1/auth/login", json={"username": "staff", "password": "staff-demo"})
            http.headers["Authorization"] = f"Bearer {token.json()['token']}"
            while not self.stop.wait(check_every):
                try:
                    plan = http.get("/api/v1/stores/1/picklist").json()
                    if sum(p["count"] for p in plan["picking"]) >= ROUND_WHEN:
                        self.round(http, plan)
                except httpx.TransportError as exc:  # the cloud restarting: next time
                    self.log.append(f"round interrupted: {exc!r}")

    def round(self, http: httpx.Client, plan: dict[str, Any]) -> None:
        self.rounds += 1
        for cabinet in plan["cabinets"]:
            if cabinet["code"] not in self.controls or self.stop.is_set():
                continue
            with self.busy(cabinet["code"]):
                self.visit(http, cabinet)

    def visit(self, http: httpx.Client, cabinet: dict[str, Any]) -> None:
        code = cabinet["code"]
        opened = http.post(f"/api/v1/cabinets/{code}/sessions", json={"mode": "restock"})
        if opened.status_code != 201:
            self.log.append(f"{code}: {opened.json().get('detail')}")
            return
        session = opened.json()["session_id"]
        counted = []  # what they really moved: the staff page lets them correct the scales
        with httpx.Client(base_url=self.controls[code], timeout=10) as world:
            for _ in range(40):
                if world.post("/doors/0/open").status_code == 200:
                    break
                time.sleep(0.25)
            for lane in cabinet["lanes"]:
                delta = 0
                if lane["pull"]:
                    move = {"channel": lane["channel"], "sku": lane["sku"], "count": lane["pull"]}
                    if world.post("/take", json=move).status_code == 200:
                        self.pulled += lane["pull"]
                        delta -= lane["pull"]
                if lane["load"]:
                    move = {"channel": lane["channel"], "sku": lane["sku"], "count": lane["load"]}
                    if world.post("/put", json=move).status_code == 200:
                        self.loaded += lane["load"]
                        delta += lane["load"]
                counted.append({"channel": lane["channel"], "lane": lane["lane"], "delta": delta})
            time.sleep(0.5)
            world.post("/doors/0/close")
        for _ in range(120):
            # Until it is settled: a confirmation lost with a dying server is simply sent again.
            try:
                view = http.get(f"/api/v1/sessions/{session}").json()
                if view["status"] == "confirm":
                    http.post(f"/api/v1/sessions/{session}/restock/confirm", json={"lanes": counted})
                    continue
            except httpx.TransportError:
                view = {"phase": "unknown"}
            if view["phase"] == "final":
                return
            time.sleep(0.5)
