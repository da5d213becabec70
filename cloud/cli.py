"""`vendfleet cloud`: serve, ingest, migrate, seed, token.

Every command reads the same settings (cloud/settings.py): the `--config` TOML file, then `VF_*`
variables, then the flags given here. A flag left out leaves the variable's value alone.
"""

from __future__ import annotations

import gc
import json
import sys
from datetime import timedelta
from pathlib import Path
from typing import Any

import structlog
import typer
import yaml
from pydantic import ValidationError
from sqlalchemy import or_, select

from cloud.commands import CloudKeys, MissingKey
from cloud.context import CloudContext
from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.migrate import upgrade
from cloud.db.models import User
from cloud.domain.auth import TokenSigner
from cloud.domain.fleet import seed as seed_fixture
from cloud.runtime import CloudRuntime, PortTaken, ingest_worker
from cloud.settings import CloudSettings, load_settings
from cloud.usecases.books import books as ledger_books
from protocols.runtime.logs import configure
from protocols.runtime.shutdown import exit_now, exit_stopped, stop_requested, stop_together, wait_for_stop

log = structlog.get_logger("cloud")
app = typer.Typer(no_args_is_help=True, help="The fleet service.")
DB_HELP = "SQLAlchemy URL (sqlite:///FILE or postgresql+psycopg://…) [VF_DB]"
CONFIG = typer.Option(None, "--config", envvar="VF_CONFIG", help="TOML settings file (below VF_* and flags)")
DB = typer.Option(None, help=DB_HELP)
KEY_DIR = typer.Option(None, help="Command signing key and token secret [VF_KEY_DIR]")


def settings_of(config: Path | None, **flags: Any) -> CloudSettings:
    """The settings, or a clear message and exit code 2."""
    try:
        return load_settings(config, **flags)
    except ValidationError as exc:
        reasons = "; ".join(str(e["msg"]).removeprefix("Value error, ") for e in exc.errors())
        typer.echo(f"vendfleet cloud: {reasons}", err=True)
        raise typer.Exit(2) from None


@app.command()
def serve(
    config: Path | None = CONFIG,
    db: str | None = DB,
    mqtt: str | None = typer.Option(None, help="Broker URL; none: embed an amqtt broker [VF_MQTT]"),
    mqtt_port: int | None = typer.Option(None, help="Port of the embedded broker [VF_EMBEDDED_MQTT_PORT]"),
    host: str | None = typer.Option(None, help="[VF_HOST]"),
    port: int | None = typer.Option(None, help="[VF_PORT]"),
    key_dir: Path | None = KEY_DIR,
    base_url: str | None = typer.Option(None, help="Public URL the QR codes point at [VF_BASE_URL]"),
    dev_show_otp: bool | None = typer.Option(None, help="Demo: show one-time codes on the page"),
) -> None:
    """API, pages and MQTT ingest in one process, until SIGTERM or SIGINT (then exit code 0)."""
    configure()
    settings = settings_of(
        config,
        db=db,
        mqtt=mqtt,
        embedded_mqtt_port=mqtt_port,
        host=host,
        port=port,
        key_dir=key_dir,
        base_url=base_url,
        dev_show_otp=dev_show_otp,
    )
    stop = stop_requested()
    runtime = CloudRuntime(settings)
    try:
        runtime.start()
    except PortTaken as exc:  # raised before anything started
        typer.echo(f"vendfleet cloud serve: {exc}", err=True)
        exit_now(1)
    # Only once both ports are ours: a parent (the demo) reads these to know whom it talks to.
    typer.echo(f"cloud: {runtime.url}")
    typer.echo(f"mqtt: {runtime.mqtt_url}")
    sys.stdout.flush()
    wait_for_stop(stop)
    exit_stopped(runtime.stop())


@app.command()
def ingest(
    config: Path | None = CONFIG,
    db: str | None = DB,
    mqtt: str | None = typer.Option(None, help="Broker URL [VF_MQTT]"),
    workers: int = typer.Option(1, help="Workers in this process (each its own MQTT client)"),
    share_group: str | None = typer.Option(None, help="Shared subscription group [VF_SHARE_GROUP]"),
    key_dir: Path | None = KEY_DIR,
) -> None:
    """Ingest workers alone; run as many processes as the load needs. SIGTERM/SIGINT: exit code 0."""
    configure()
    settings = settings_of(config, db=db, mqtt=mqtt, share_group=share_group, key_dir=key_dir)
    if not settings.mqtt:
        typer.echo("vendfleet cloud ingest: no broker (--mqtt or VF_MQTT)", err=True)
        raise typer.Exit(2)
    stop = stop_requested()
    context = CloudContext.build(settings, None)
    made = [
        ingest_worker(context, settings.mqtt, settings.share_group, f"ingest-{n}") for n in range(workers)
    ]
    # What start-up made (modules, mappers, compiled statements) is never garbage: frozen, a full
    # collection no longer walks it, which cost a busy worker about a fifth of its time.
    gc.freeze()
    running = [worker.start() for worker in made]
    log.info("ingest up", workers=workers, mqtt=settings.mqtt)
    wait_for_stop(stop)
    exit_stopped(stop_together([worker.stop for worker in running], [context.close]))


@app.command()
def migrate(config: Path | None = CONFIG, db: str | None = DB) -> None:
    """Apply the database migrations."""
    upgrade(settings_of(config, db=db).db)
    typer.echo("database is at the newest schema")


@app.command()
def seed(fixture: Path, config: Path | None = CONFIG, db: str | None = DB) -> None:
    """Load stores, cabinets, products, planograms and users from a YAML or JSON fixture."""
    url = settings_of(config, db=db).db
    upgrade(url)
    data = yaml.safe_load(fixture.read_text())
    engine = make_engine(url)
    with transaction(session_factory(engine)) as session:
        seed_fixture(session, data)
    engine.dispose()
    typer.echo(json.dumps({"seeded": str(fixture)}))


@app.command()
def books(config: Path | None = CONFIG, db: str | None = DB) -> None:
    """Print the books as JSON (visits, events, alarms, prices, residents' money): for an audit."""
    engine = make_engine(settings_of(config, db=db).db)
    with session_factory(engine)() as session:
        typer.echo(json.dumps(ledger_books(session)))
    engine.dispose()


@app.command()
def keys(
    key_dir: Path = typer.Option(
        ..., envvar="VF_KEY_DIR", help="Where the cloud will read them [VF_KEY_DIR]"
    ),
) -> None:
    """Create the cloud's command key and token secret (a production cloud never creates them itself);
    those already there are kept."""
    CloudKeys.load(key_dir, mint=True)
    typer.echo(f"keys in {key_dir}: public key {key_dir / 'public.pem'} goes to every gateway")


@app.command()
def token(
    user: str = typer.Option(..., help="User name or phone number"),
    config: Path | None = CONFIG,
    db: str | None = DB,
    key_dir: Path | None = KEY_DIR,
    ttl_hours: int = typer.Option(24),
) -> None:
    """Print a bearer token for an existing user (an admin tool), signed with the cloud's own secret:
    found by the same settings the cloud reads, never minted here."""
    settings = settings_of(config, db=db, key_dir=key_dir)
    try:
        keys = CloudKeys.load(settings.key_dir, mint=False)
    except MissingKey as exc:
        typer.echo(f"vendfleet cloud token: {exc}", err=True)
        raise typer.Exit(2) from None
    engine = make_engine(settings.db)
    with transaction(session_factory(engine)) as session:
        found = session.scalar(select(User).where(or_(User.name == user, User.phone == user)))
        if found is None:
            typer.echo(f"no user {user!r}", err=True)
            raise typer.Exit(1)
        typer.echo(TokenSigner(keys.token_secret, timedelta(hours=ttl_hours)).issue(found.id))
    engine.dispose()
