"""What `python -m gateway` loads: a board runs it for years in ≤ 50 MB (#13).

Each package below costs resident memory and the service needs none of them: the cloud's stack,
the people's CLI (typer, click, rich), and `cryptography`, which only signs (the gateway verifies
with PyNaCl, protocols/signing.py). Pulled back in by an import, this test names the package;
bench_gateway.py measures what the rest costs."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]

NOT_FOR_THE_GATEWAY = {
    "cryptography",
    "sqlalchemy",
    "alembic",
    "psycopg",
    "fastapi",
    "starlette",
    "uvicorn",
    "httpx",
    "jinja2",
    "influxdb_client",
    "amqtt",
    "argon2",
    "segno",
    "yaml",
    "limits",
    "typer",
    "click",
    "rich",
    "pygments",
    "greenlet",
    "cloud",
    "firmware_sim",
}

# The entry point first (it marks what structlog may do without), then everything serve() imports.
LOADED = """
import json, sys
import gateway.__main__, gateway.run, gateway.service
print(json.dumps(sorted({name.split(".")[0] for name, module in sys.modules.items() if module})))
"""


def gateway_packages() -> set[str]:
    done = subprocess.run(
        [sys.executable, "-c", LOADED], cwd=ROOT, capture_output=True, text=True, timeout=60, check=True
    )
    return set(json.loads(done.stdout))


def test_the_gateway_service_loads_none_of_the_packages_it_does_not_need() -> None:
    loaded = gateway_packages()
    assert {"gateway", "protocols", "paho", "serial", "pydantic", "nacl"} <= loaded  # it did load the service
    assert loaded & NOT_FOR_THE_GATEWAY == set()
