"""The real app on the seeded demo fleet, a second store, and a bearer token for every role."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from fastapi.testclient import TestClient
from sqlalchemy import select
from sqlalchemy.orm import Session, sessionmaker

from cloud.app import create_app
from cloud.context import CloudContext
from cloud.db.engine import transaction
from cloud.db.models import Store, User
from cloud.domain.auth import hash_password
from cloud.settings import RATE_SETTINGS, CloudSettings

# Who calls: the user name behind each role (None: no token at all).
ROLES: dict[str, str | None] = {
    "none": None,
    "resident": "王芳",
    "other_resident": "张敏",
    "staff": "staff",
    "other_staff": "staff-pd",  # restocks for another store
    "ops": "ops",
    "admin": "admin",
}


def add_other_store(factory: sessionmaker[Session]) -> None:
    """A second parent store with its own restocker and no cabinets of the demo's."""
    with transaction(factory) as db:
        store = Store(
            code="SH-PD-02", name_zh="邻里生鲜 浦东店", name_en="Linli Fresh, Pudong", lat=31.2, lon=121.5
        )
        db.add(store)
        db.flush()
        db.add(User(name="staff-pd", role="staff", store_id=store.id, password_hash=hash_password("pd-demo")))


@contextmanager
def api_client(factory: sessionmaker[Session], db_url: str, tmp_path: Path) -> Iterator[TestClient]:
    # The matrix and the fuzzer sign in many times from one address: the sign-in limits have tests of
    # their own (test_auth_limits.py), here they are out of the way.
    unlimited = {name: "100000/minute" for name in RATE_SETTINGS} | {"login_max_failures": 100000}
    settings = CloudSettings(db=db_url, key_dir=tmp_path / "keys", **unlimited)
    context = CloudContext.build(settings, mqtt_url=None)
    context.factory = factory
    try:
        with TestClient(create_app(context)) as client:
            yield client
    finally:
        context.close()


def role_headers(client: TestClient, factory: sessionmaker[Session]) -> dict[str, dict[str, str]]:
    """Authorization headers per role, tokens issued directly (sign-in has its own tests and limits)."""
    tokens = client.app.state.context.tokens  # type: ignore[attr-defined]
    headers: dict[str, dict[str, str]] = {}
    with factory() as db:
        for role, name in ROLES.items():
            user = db.scalar(select(User).where(User.name == name)) if name else None
            headers[role] = {"Authorization": f"Bearer {tokens.issue(user.id)}"} if user else {}
    return headers
