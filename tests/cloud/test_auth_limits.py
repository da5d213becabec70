"""Sign-in abuse (issue 10, defect 3), over HTTP through the real app on SQLite and PostgreSQL:
every guess counts, floods get 429 before anything is evaluated, lockouts expire, and unknown
phones and names answer exactly like known ones."""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import ExitStack
from pathlib import Path
from typing import Any

import httpx
import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.app import create_app
from cloud.context import CloudContext
from cloud.db.models import LoginFailure, OtpCode
from cloud.domain.auth import LogSender
from cloud.settings import CloudSettings

RESIDENT = "13800138000"
STRANGER = "13111111111"  # no account
WRONG_CODE = {
    "detail": "wrong or expired code: check it, or ask for a new one",
    "code": "wrong_code",
    "params": {},
}
WRONG_PASSWORD = {"detail": "wrong user name or password", "code": "wrong_password", "params": {}}
PLENTY = "10000/minute"  # a limit that stays out of the way of the one under test

Clients = Callable[..., Callable[[str], TestClient]]


@pytest.fixture
def clients(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[Clients]:
    """`clients(**settings)` starts an app; the function it returns connects from an address."""
    with ExitStack() as stack:

        def start(**settings: Any) -> Callable[[str], TestClient]:
            context = CloudContext.build(
                CloudSettings(db=db_url, key_dir=tmp_path / "keys", **settings), mqtt_url=None
            )
            context.factory = factory
            stack.callback(context.close)
            app = create_app(context)
            return lambda address: stack.enter_context(TestClient(app, client=(address, 50000)))

        yield start


def sent_code(client: TestClient, phone: str = RESIDENT) -> str:
    sender = client.app.state.context.otp_sender  # type: ignore[attr-defined]
    assert isinstance(sender, LogSender)
    return sender.sent[phone]


def request_code(client: TestClient, phone: str = RESIDENT) -> httpx.Response:
    return client.post("/api/v1/auth/otp/request", json={"phone": phone})


def verify(client: TestClient, code: str, phone: str = RESIDENT) -> httpx.Response:
    return client.post("/api/v1/auth/otp/verify", json={"phone": phone, "code": code})


def login(client: TestClient, username: str, password: str) -> httpx.Response:
    return client.post("/api/v1/auth/login", json={"username": username, "password": password})


def wrong_codes(right: str, count: int) -> list[str]:
    return [f"{n:06d}" for n in range(count + 1) if f"{n:06d}" != right][:count]


def attempts(factory: sessionmaker[Session], phone: str = RESIDENT) -> int:
    with factory() as db:
        return db.scalars(select(OtpCode.attempts).where(OtpCode.phone == phone)).one()


def assert_too_many(answer: httpx.Response, what: str) -> None:
    assert answer.status_code == 429, answer.text
    assert what in answer.json()["detail"]
    assert int(answer.headers["Retry-After"]) >= 1


# -- one-time codes -----------------------------------------------------------------------------


def test_wrong_guesses_burn_the_code_even_for_the_right_one(clients: Clients) -> None:
    client = clients(otp_verifies_per_phone=PLENTY, otp_verifies_per_ip=PLENTY)("198.51.100.1")
    request_code(client)
    right = sent_code(client)
    for guess in wrong_codes(right, 190):
        answer = verify(client, guess)
        assert (answer.status_code, answer.json()) == (401, WRONG_CODE)
    assert (verify(client, right).status_code, verify(client, right).json()) == (401, WRONG_CODE)

    request_code(client)  # a new code starts afresh: four misses still leave the right one
    right = sent_code(client)
    for guess in wrong_codes(right, 4):
        assert verify(client, guess).status_code == 401
    assert verify(client, right).status_code == 200
    assert verify(client, right).json() == WRONG_CODE  # used once, gone


def test_parallel_guesses_are_each_counted(clients: Clients, factory: sessionmaker[Session]) -> None:
    client = clients(otp_verifies_per_phone=PLENTY, otp_verifies_per_ip=PLENTY)("198.51.100.1")
    request_code(client)
    right = sent_code(client)
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda guess: verify(client, guess), wrong_codes(right, 24)))
    assert {answer.status_code for answer in answers} == {401}
    assert attempts(factory) == 5
    assert verify(client, right).status_code == 401


def test_code_request_flood_is_refused_per_phone_without_new_codes(clients: Clients) -> None:
    client = clients()("198.51.100.1")
    answers = [request_code(client) for _ in range(100)]
    assert [answer.status_code for answer in answers[:3]] == [200] * 3
    for answer in answers[3:]:
        assert_too_many(answer, "code requests for this phone number")
    assert verify(client, sent_code(client)).status_code == 200  # the flood made no new code


def test_code_requests_are_limited_per_address_and_overall(clients: Clients) -> None:
    connect = clients(otp_requests_per_ip="4/minute", otp_requests_total="6/minute")
    first, second = connect("198.51.100.1"), connect("198.51.100.2")
    phones = [f"1390000{n:04d}" for n in range(8)]
    assert [request_code(first, phone).status_code for phone in phones[:4]] == [200] * 4
    assert_too_many(request_code(first, phones[4]), "code requests from this address")
    assert [request_code(second, phone).status_code for phone in phones[4:6]] == [200] * 2
    assert_too_many(request_code(second, phones[6]), "the service is busy")


def test_code_verify_flood_is_refused_before_the_code_is_tried(
    clients: Clients, factory: sessionmaker[Session]
) -> None:
    client = clients(otp_max_attempts=100)("198.51.100.1")
    request_code(client)
    right = sent_code(client)
    for guess in wrong_codes(right, 10):
        assert verify(client, guess).status_code == 401
    assert_too_many(verify(client, right), "codes tried for this phone number")
    assert attempts(factory) == 10  # the refused guess was not tried, not counted


# -- passwords ----------------------------------------------------------------------------------


# argon2 takes about a second per password on a busy machine: these tests try few of them.


@pytest.mark.parametrize(("username", "password"), [("ops", "ops-demo"), ("nobody", "whatever")])
def test_password_guessing_locks_the_name_until_the_lockout_ends(
    clients: Clients, factory: sessionmaker[Session], username: str, password: str
) -> None:
    """The same for a real account and a name nobody has: a lockout tells nothing."""
    settings = {"login_max_failures": 2, "login_lockout_s": 3.0, "logins_per_name": PLENTY}
    client = clients(**settings)("198.51.100.1")
    assert login(client, username, "guess").json() == WRONG_PASSWORD
    last_failure = time.monotonic()
    answer = login(client, username, "guess")
    assert (answer.status_code, answer.json()) == (401, WRONG_PASSWORD)
    for _ in range(25):
        assert_too_many(login(client, username, password), "too many failed sign-ins for this name")
    with factory() as db:
        assert db.scalars(select(LoginFailure.failures).where(LoginFailure.name == username)).one() == 2
    time.sleep(max(0.0, last_failure + 3.1 - time.monotonic()))
    assert login(client, username, password).status_code == (200 if username == "ops" else 401)


def test_a_success_clears_the_failures(clients: Clients) -> None:
    client = clients(login_max_failures=2)("198.51.100.1")
    assert login(client, "ops", "guess").status_code == 401
    assert login(client, "ops", "ops-demo").status_code == 200
    assert login(client, "ops", "guess").status_code == 401


def test_parallel_password_guesses_cannot_overrun_the_lockout(clients: Clients) -> None:
    client = clients(login_max_failures=3, logins_per_name=PLENTY)("198.51.100.1")
    with ThreadPoolExecutor(8) as pool:
        answers = list(pool.map(lambda n: login(client, "ops", f"guess-{n}"), range(16)))
    assert sorted(answer.status_code for answer in answers) == [401] * 3 + [429] * 13
    assert login(client, "ops", "ops-demo").status_code == 429


def test_passwords_are_limited_per_name_and_per_address(clients: Clients) -> None:
    connect = clients(logins_per_name="2/minute", logins_per_ip="3/minute")
    first, second = connect("198.51.100.1"), connect("198.51.100.2")
    assert [login(first, "ops", "guess").status_code for _ in range(2)] == [401] * 2
    assert_too_many(login(second, "ops", "ops-demo"), "sign-ins for this name")
    assert login(first, "staff", "guess").status_code == 401
    assert_too_many(login(first, "admin", "admin-demo"), "sign-ins from this address")
    assert login(second, "admin", "admin-demo").status_code == 200


# -- no enumeration ------------------------------------------------------------------------------


@pytest.mark.parametrize("dev_show_otp", [False, True])
def test_unknown_phones_answer_like_residents(clients: Clients, dev_show_otp: bool) -> None:
    client = clients(dev_show_otp=dev_show_otp)("198.51.100.1")
    known, unknown = request_code(client, RESIDENT), request_code(client, STRANGER)
    assert (known.status_code, known.json().keys()) == (unknown.status_code, unknown.json().keys())
    assert known.json()["sent"] is True
    for phone in (RESIDENT, STRANGER):
        answer = verify(client, "000000" if sent_code(client) != "000000" else "000001", phone)
        assert (answer.status_code, answer.json()) == (401, WRONG_CODE)
    if dev_show_otp:  # even the code shown for a stranger's number signs nobody in
        assert verify(client, unknown.json()["dev_code"], STRANGER).json() == WRONG_CODE
    assert STRANGER not in client.app.state.context.otp_sender.sent  # type: ignore[attr-defined]


def test_unknown_names_answer_like_accounts_and_as_slowly(clients: Clients) -> None:
    client = clients(login_max_failures=100, logins_per_name=PLENTY)("198.51.100.1")

    def timed(username: str) -> float:
        started = time.perf_counter()
        answer = login(client, username, "guess")
        assert (answer.status_code, answer.json()) == (401, WRONG_PASSWORD)
        return time.perf_counter() - started

    login(client, "nobody", "warm-up")
    known = statistics.median(timed("ops") for _ in range(3))
    unknown = statistics.median(timed("nobody") for _ in range(3))
    # argon2 dominates both (tens of ms); without the dummy hash the unknown name takes ~1 ms.
    assert unknown > known / 3, (known, unknown)
    resident = login(client, "王芳", "guess")  # an account without a password
    assert (resident.status_code, resident.json()) == (401, WRONG_PASSWORD)
