"""`vendfleet cloud`: serve, ingest, migrate, seed, token."""

from __future__ import annotations

import json
import sys
from datetime import timedelta
from pathlib import Path

import structlog
import typer
import yaml
from sqlalchemy import or_, select

from cloud.commands import CloudKeys
from cloud.context import CloudContext
from cloud.db.engine import make_engine, session_factory, transaction
from cloud.db.migrate import upgrade
from cloud.db.models import User
from cloud.domain.auth import TokenSigner
from cloud.domain.fleet import seed as seed_fixture
from cloud.ingest.worker import IngestWorker
from cloud.runtime import CloudRuntime, PortTaken, influx_sink
from cloud.settings import CloudSettings
from protocols.runtime.logs import configure
from protocols.runtime.shutdown import exit_now, exit_stopped, stop_requested, stop_together, wait_for_stop

log = structlog.get_logger("cloud")
app = typer.Typer(no_args_is_help=True, help="The fleet service.")
DB_HELP = "SQLAlchemy URL (sqlite:///FILE or postgresql+psycopg://…)"


@app.command()
def serve(
    db: str = typer.Option("sqlite:///var/vendfleet.db", help=DB_HELP),
    mqtt: str | None = typer.Option(None, help="Broker URL; none: embed an amqtt broker"),
    mqtt_port: int = typer.Option(1883, help="Port of the embedded broker"),
    host: str = typer.Option("127.0.0.1"),
    port: int = typer.Option(8000),
    key_dir: Path = typer.Option(Path("var/keys"), help="Command signing key and token secret"),
    base_url: str | None = typer.Option(None, help="Public URL the QR codes point at"),
    dev_show_otp: bool = typer.Option(False, help="Demo: show one-time codes on the page"),
) -> None:
    """API, pages and MQTT ingest in one process, until SIGTERM or SIGINT (then exit code 0)."""
    configure()
    stop = stop_requested()
    settings = CloudSettings(
        db=db,
        mqtt=mqtt,
        embedded_mqtt_port=mqtt_port,
        host=host,
        port=port,
        key_dir=key_dir,
        base_url=base_url,
        dev_show_otp=dev_show_otp,
    )
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
    db: str = typer.Option(..., help=DB_HELP),
    mqtt: str = typer.Option(..., help="Broker URL"),
    workers: int = typer.Option(1, help="Workers in this process (each its own MQTT client)"),
    share_group: str = typer.Option("cloud", help="Shared subscription group"),
    key_dir: Path = typer.Option(Path("var/keys")),
) -> None:
    """Ingest workers alone; run as many processes as the load needs. SIGTERM/SIGINT: exit code 0."""
    configure()
    stop = stop_requested()
    context = CloudContext.build(CloudSettings(db=db, mqtt=mqtt, key_dir=key_dir), None)
    running = [
        IngestWorker(
            mqtt_url=mqtt,
            factory=context.factory,
            share_group=share_group,
            command_ttl=timedelta(minutes=2),
            name=f"ingest-{n}",
            thresholds=context.settings.thresholds,
            influx=influx_sink(context.settings),
            username=context.settings.mqtt_username,
            password=context.settings.mqtt_password,
        ).start()
        for n in range(workers)
    ]
    log.info("ingest up", workers=workers, mqtt=mqtt)
    wait_for_stop(stop)
    exit_stopped(stop_together([worker.stop for worker in running], [context.close]))


@app.command()
def migrate(db: str = typer.Option(..., help=DB_HELP)) -> None:
    """Apply the database migrations."""
    upgrade(db)
    typer.echo("database is at the newest schema")


@app.command()
def seed(fixture: Path, db: str = typer.Option(..., help=DB_HELP)) -> None:
    """Load stores, cabinets, products, planograms and users from a YAML or JSON fixture."""
    upgrade(db)
    data = yaml.safe_load(fixture.read_text())
    engine = make_engine(db)
    with transaction(session_factory(engine)) as session:
        seed_fixture(session, data)
    engine.dispose()
    typer.echo(json.dumps({"seeded": str(fixture)}))


@app.command()
def token(
    user: str = typer.Option(..., help="User name or phone number"),
    db: str = typer.Option(..., help=DB_HELP),
    key_dir: Path = typer.Option(Path("var/keys")),
    ttl_hours: int = typer.Option(24),
) -> None:
    """Print a bearer token for an existing user (an admin tool)."""
    engine = make_engine(db)
    with transaction(session_factory(engine)) as session:
        found = session.scalar(select(User).where(or_(User.name == user, User.phone == user)))
        if found is None:
            typer.echo(f"no user {user!r}", err=True)
            raise typer.Exit(1)
        signer = TokenSigner(CloudKeys.load_or_create(key_dir).token_secret, timedelta(hours=ttl_hours))
        typer.echo(signer.issue(found.id))
    engine.dispose()
