"""`vendfleet cloud` reads its settings once, as a process: a TOML file < `VF_*` variables < flags given.

A flag left out does not hide a variable; production refuses to start on a placeholder secret or
without its keys; `cloud token` signs with the very keys the running cloud checks."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

import httpx

from firmware_sim.demo.run import FIXTURE as DEMO_FIXTURE
from firmware_sim.demo.servers import free_port
from tests.harness import wait_until
from tests.sim_fixture import VENDFLEET
from tests.test_processes import STARTUP_S, http_ok, started


def run(argv: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run([VENDFLEET, *argv], capture_output=True, text=True, timeout=120, env=env)


def vf_env(tmp_path: Path, **values: str) -> dict[str, str]:
    """This environment less any VF_* of the caller's, plus the given ones."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("VF_")}
    return env | {f"VF_{name.upper()}": value for name, value in values.items()}


def test_variables_alone_configure_the_cloud_and_the_token_it_accepts(tmp_path: Path) -> None:
    port, broker = free_port(), free_port()
    env = vf_env(
        tmp_path,
        db=f"sqlite:///{tmp_path / 'cloud.db'}",
        key_dir=str(tmp_path / "keys"),
        port=str(port),
        embedded_mqtt_port=str(broker),
        fleet__hold_fen="1234",  # a fleet default of the per-cabinet settings
    )
    assert run(["cloud", "seed", str(DEMO_FIXTURE)], env).returncode == 0  # VF_DB, no --db
    assert (tmp_path / "cloud.db").exists()
    # No flag at all: before, the command's own defaults (port 8000, var/keys …) hid every variable.
    with started(["cloud", "serve"], tmp_path / "serve.log", env):
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), STARTUP_S, "the cloud on VF_PORT")
        assert (tmp_path / "keys" / "private.pem").exists()
        token = run(["cloud", "token", "--user", "ops"], env)  # the same VF_DB and VF_KEY_DIR
        assert token.returncode == 0, token.stderr
        headers = {"Authorization": f"Bearer {token.stdout.strip()}"}
        answer = httpx.get(f"http://127.0.0.1:{port}/api/v1/settings", headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        assert answer.json()["defaults"]["hold_fen"] == 1234
        assert {c["effective"]["hold_fen"] for c in answer.json()["cabinets"]} == {1234}


def test_a_flag_beats_the_variable_and_the_variable_beats_the_file(tmp_path: Path) -> None:
    db_file, db_env, db_flag = (tmp_path / name for name in ("file.db", "env.db", "flag.db"))
    config = tmp_path / "cloud.toml"
    config.write_text(f'db = "sqlite:///{db_file}"\n')
    assert run(["cloud", "migrate", "--config", str(config)], vf_env(tmp_path)).returncode == 0
    env = vf_env(tmp_path, db=f"sqlite:///{db_env}")
    assert run(["cloud", "migrate", "--config", str(config)], env).returncode == 0
    assert (
        run(["cloud", "migrate", "--config", str(config), "--db", f"sqlite:///{db_flag}"], env).returncode
        == 0
    )
    assert (db_file.exists(), db_env.exists(), db_flag.exists()) == (True, True, True)
    env_only = vf_env(tmp_path, db=f"sqlite:///{tmp_path / 'other.db'}", config=str(config))
    assert run(["cloud", "migrate"], env_only).returncode == 0  # VF_CONFIG names the file
    assert (tmp_path / "other.db").exists()


def test_the_token_command_never_mints_a_key(tmp_path: Path) -> None:
    env = vf_env(tmp_path, db=f"sqlite:///{tmp_path / 'cloud.db'}")
    assert run(["cloud", "seed", str(DEMO_FIXTURE)], env).returncode == 0
    done = run(["cloud", "token", "--user", "ops", "--key-dir", str(tmp_path / "nowhere")], env)
    assert done.returncode == 2
    assert "no signing key" in done.stderr
    assert str(tmp_path / "nowhere") in done.stderr
    assert not (tmp_path / "nowhere").exists()
    assert not done.stdout.strip()


def test_production_refuses_to_start_without_its_keys(tmp_path: Path) -> None:
    env = vf_env(tmp_path, env="production", db=f"sqlite:///{tmp_path / 'cloud.db'}")
    env["VF_KEY_DIR"] = str(tmp_path / "keys")
    for argv in (
        ["cloud", "serve", "--port", str(free_port())],
        ["cloud", "ingest", "--mqtt", "mqtt://127.0.0.1:1"],
    ):
        done = run(argv, env)
        assert done.returncode == 2, done.stderr
        assert (
            "refusing to run in production: no signing key: private.pem, public.pem, token.secret"
            in done.stderr
        )
        assert "Traceback" not in done.stderr
    assert not (tmp_path / "keys").exists()  # nothing minted


def test_production_refuses_placeholder_secrets(tmp_path: Path) -> None:
    keys = tmp_path / "keys"
    env = vf_env(tmp_path, db=f"sqlite:///{tmp_path / 'cloud.db'}", key_dir=str(keys))
    assert run(["cloud", "seed", str(DEMO_FIXTURE)], env).returncode == 0
    with started(
        ["cloud", "serve", "--port", str(free_port()), "--mqtt-port", str(free_port())],
        tmp_path / "dev.log",
        env,
    ):
        wait_until(lambda: (keys / "token.secret").exists(), STARTUP_S, "keys of a development cloud")
    production = env | {"VF_ENV": "production", "VF_MQTT_PASSWORD": "change-me"}
    production["VF_DB"] = "postgresql+psycopg://vendfleet:change-me@127.0.0.1:1/vendfleet"
    done = run(["cloud", "serve", "--mqtt", "mqtt://127.0.0.1:1", "--dev-show-otp"], production)
    assert done.returncode == 2
    assert done.stderr.strip() == (
        "vendfleet cloud: refusing to run in production: the database password is a placeholder; "
        "mqtt_password is a placeholder; dev_show_otp shows one-time codes on the page"
    )


def test_production_starts_on_keys_made_beforehand(tmp_path: Path) -> None:
    port = free_port()
    env = vf_env(tmp_path, db=f"sqlite:///{tmp_path / 'cloud.db'}", key_dir=str(tmp_path / "keys"))
    made = run(["cloud", "keys"], env)
    assert made.returncode == 0, made.stderr
    public = (tmp_path / "keys" / "public.pem").read_bytes()
    assert run(["cloud", "keys"], env).returncode == 0  # again: kept, not replaced
    assert (tmp_path / "keys" / "public.pem").read_bytes() == public
    production = env | {
        "VF_ENV": "production",
        "VF_PORT": str(port),
        "VF_EMBEDDED_MQTT_PORT": str(free_port()),
    }
    with started(["cloud", "serve"], tmp_path / "serve.log", production):
        wait_until(lambda: http_ok(f"http://127.0.0.1:{port}/healthz"), STARTUP_S, "a production cloud")
        served = httpx.get(f"http://127.0.0.1:{port}/api/v1/keys/commands", timeout=10).content
    assert served == public
