"""Scripted residents: they sign in, open a cabinet, take (and sometimes put back) items, close."""

from __future__ import annotations

import random
import threading
import time
import uuid
from collections import Counter
from dataclasses import dataclass, field
from typing import Any

import httpx

# A phone retries a connection the server refused (a restart), for about half a minute.
CONNECT_RETRIES = 7
# A scripted resident tops up at the store when less than this is available (twice the ¥50 hold).
TOP_UP_BELOW_FEN = 10_000
TOP_UP_FEN = 50_000


def client(base_url: str, **options: Any) -> httpx.Client:
    """A client to the cloud that rides out a restart: refused connections are tried again."""
    transport = httpx.HTTPTransport(retries=CONNECT_RETRIES)
    return httpx.Client(base_url=base_url, timeout=20, transport=transport, **options)


@dataclass
class Visit:
    cabinet: str
    resident: str
    session_id: str | None = None
    taken: Counter[str] = field(default_factory=Counter)  # net pieces per sku
    status: str = "refused"
    amount_fen: int | None = None
    charged: Counter[str] = field(default_factory=Counter)
    detail: str = ""


@dataclass
class Tally:
    visits: list[Visit] = field(default_factory=list)
    top_ups: Counter[str] = field(default_factory=Counter)  # fen credited per resident
    lock: threading.Lock = field(default_factory=threading.Lock)

    def topped_up(self, resident: str, amount_fen: int) -> None:
        with self.lock:
            self.top_ups[resident] += amount_fen

    def add(self, visit: Visit) -> None:
        with self.lock:
            self.visits.append(visit)

    def sales_fen(self) -> int:
        with self.lock:
            return sum(v.amount_fen or 0 for v in self.visits)

    def count(self, status: str | None = None) -> int:
        with self.lock:
            return sum(1 for v in self.visits if status is None or v.status == status)


def sign_in(cloud: str, phone: str) -> str:
    """The resident's flow: ask for a code, type it in (the demo cloud shows it), get a token."""
    with client(cloud) as http:
        code = http.post("/api/v1/auth/otp/request", json={"phone": phone}).json()["dev_code"]
        answer = http.post("/api/v1/auth/otp/verify", json={"phone": phone, "code": code})
        return str(answer.raise_for_status().json()["token"])


@dataclass(frozen=True)
class StoreCounter:
    """The store's counter, where residents top up (a staff sign-in)."""

    cloud: str
    staff_token: str
    tally: Tally

    def top_up(self, name: str, phone: str, amount_fen: int) -> None:
        """Once, even if an answer is lost: the same top-up id is sent again until one is heard."""
        body = {"phone": phone, "amount_fen": amount_fen, "top_up_id": uuid.uuid4().hex}
        with client(self.cloud, headers={"Authorization": f"Bearer {self.staff_token}"}) as http:
            for _ in range(20):
                try:
                    http.post("/api/v1/top-ups", json=body).raise_for_status()
                except httpx.TransportError:
                    time.sleep(1)
                    continue
                self.tally.topped_up(name, amount_fen)
                return


class Resident:
    def __init__(
        self, cloud: str, token: str, name: str, phone: str, stop: threading.Event, counter: StoreCounter
    ) -> None:
        self.name, self.phone = name, phone
        self._stop = stop
        self._counter = counter
        self._http = client(cloud, headers={"Authorization": f"Bearer {token}"})

    def _top_up_if_low(self) -> None:
        try:
            available = self._http.get("/api/v1/auth/me").json()["available_fen"]
        except (httpx.TransportError, KeyError, ValueError):
            return  # the cloud is restarting: the visit will tell
        if available < TOP_UP_BELOW_FEN:
            self._counter.top_up(self.name, self.phone, TOP_UP_FEN)

    def shop(self, cabinet: str, control: str, rng: random.Random, behaviour: str) -> Visit:
        self._top_up_if_low()
        visit = Visit(cabinet, self.name)
        try:
            answer = self._http.post(f"/api/v1/cabinets/{cabinet}/sessions", json={})
        except httpx.TransportError as exc:  # sent, but the server died before it answered
            visit.status, visit.detail = "unanswered", repr(exc)
            return visit
        if answer.status_code != 201:
            visit.detail = answer.json().get("detail", answer.text)
            return visit
        visit.session_id = answer.json()["session_id"]
        with httpx.Client(base_url=control, timeout=10) as world:
            if not _wait_open(world):
                visit.detail = "door never released"
            else:
                _take_items(world, rng, visit, behaviour)
                # Left open past the gateway's limit (120 s) raises left_open; a demo stop closes it.
                self._stop.wait(rng.uniform(0.5, 2.0) if behaviour != "leave_open" else 150)
                world.post("/doors/0/close")
        return self._await(visit)

    def _await(self, visit: Visit, timeout: float = 60) -> Visit:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            try:
                session = self._http.get(f"/api/v1/sessions/{visit.session_id}").json()
            except httpx.TransportError:  # the server died under this request: ask again
                time.sleep(0.5)
                continue
            if session["status"] == "choose":  # the weights were not sure: say what was really taken
                session = self._choose(visit, session)
            if session["phase"] != "live":  # the door is free: the visit is over for the resident
                visit.status, visit.amount_fen = session["status"], session["amount_fen"]
                visit.charged = Counter({i["sku"]: i["count"] for i in session["items"]})
                return visit
            time.sleep(0.5)
        visit.status = "timeout"
        return visit

    def _choose(self, visit: Visit, session: dict[str, Any]) -> dict[str, Any]:
        """An honest resident taps the basket that is what they took, or "none of these"."""
        taken = {sku: n for sku, n in visit.taken.items() if n}
        offers = session["offers"]
        offer = next(
            (n for n, o in enumerate(offers) if {i["sku"]: i["count"] for i in o["items"]} == taken), None
        )
        answer = self._http.post(f"/api/v1/sessions/{visit.session_id}/choice", json={"offer": offer})
        return dict(answer.json()) if answer.status_code == 200 else session

    def close(self) -> None:
        self._http.close()


def _wait_open(world: httpx.Client) -> bool:
    for _ in range(40):
        if world.post("/doors/0/open").status_code == 200:
            return True
        time.sleep(0.25)
    return False


def _take_items(world: httpx.Client, rng: random.Random, visit: Visit, behaviour: str) -> None:
    state: dict[str, Any] = world.get("/state").json()
    lanes = [
        (c["channel"], lane["sku"]) for c in state["channels"] for lane in c["lanes"] if lane["count"] > 0
    ]
    for channel, sku in rng.sample(lanes, k=min(len(lanes), rng.randint(1, 2))):
        count = rng.randint(1, 2)
        if world.post("/take", json={"channel": channel, "sku": sku, "count": count}).status_code == 200:
            visit.taken[sku] += count
            time.sleep(rng.uniform(0.2, 0.8))
    if behaviour == "put_back" and visit.taken:
        sku, _ = visit.taken.most_common(1)[0]
        channel = next(c for c, s in lanes if s == sku)
        if world.post("/put", json={"channel": channel, "sku": sku, "count": 1}).status_code == 200:
            visit.taken[sku] -= 1
    visit.taken = +visit.taken  # drop zeros
