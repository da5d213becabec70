"""The `vendfleet` command: one entry point whose subcommands come from each part."""

from pathlib import Path

import typer

from protocols.signing import generate_keypair

app = typer.Typer(no_args_is_help=True, help="vendfleet: fleet controller for smart vending cabinets")
keys_app = typer.Typer(no_args_is_help=True, help="Command signing keys (Ed25519).")
app.add_typer(keys_app, name="keys")


@keys_app.command("generate")
def keys_generate(
    out: Path = typer.Option(..., help="Directory for private.pem and public.pem"),
) -> None:
    """Write a new Ed25519 key pair as PEM files."""
    out.mkdir(parents=True, exist_ok=True)
    pair = generate_keypair()
    private = out / "private.pem"
    private.write_bytes(pair.private_pem)
    private.chmod(0o600)
    (out / "public.pem").write_bytes(pair.public_pem)
    typer.echo(f"wrote {private} and {out / 'public.pem'}")


@app.command()
def demo(
    cabinets: int = typer.Option(6, help="How many cabinets of the demo fleet (1-6)"),
    speed: float = typer.Option(1.0, help="Simulated seconds per real second"),
    duration: float | None = typer.Option(None, help="Stop after this many seconds"),
    browser: bool = typer.Option(True, help="Open the resident page in a browser"),
    manifest: Path | None = typer.Option(None, help="Write URLs, cabinets and users as JSON here"),
    data_dir: Path = typer.Option(Path("var/demo"), help="Databases, keys and logs (wiped at start)"),
    port: int = typer.Option(8000, help="HTTP port of the cloud"),
    residents: bool = typer.Option(True, help="Let scripted residents shop"),
) -> None:
    """The whole system on embedded defaults: SQLite, an embedded broker, simulated cabinets."""
    from firmware_sim.demo.run import DemoOptions, run_demo

    options = DemoOptions(cabinets, speed, duration, browser, manifest, data_dir, port, residents)
    raise typer.Exit(run_demo(options))


@app.command()
def chaos(
    duration: float = typer.Option(1500, help="Seconds of faults; then the fleet settles and is reckoned"),
    seed: int = typer.Option(1, help="Seed of the fault schedule and the residents"),
    cabinets: int = typer.Option(6, help="How many cabinets of the demo fleet (1-6)"),
    cut_for: float | None = typer.Option(None, help="One cabinet's network outage, s (default: 40 %)"),
    db: str | None = typer.Option(None, help="A fresh, empty database; default: a private PostgreSQL"),
    data_dir: Path = typer.Option(Path("var/chaos"), help="Logs, gateway outboxes, keys (wiped at start)"),
    settle: float = typer.Option(150, help="At most this long for the last sessions and events, s"),
) -> None:
    """The demo fleet shops and restocks while a seeded schedule kills and cuts its parts."""
    from firmware_sim.demo.chaos import ChaosOptions, run_chaos

    options = ChaosOptions(duration, seed, cabinets, cut_for, db=db, data_dir=data_dir, settle=settle)
    raise typer.Exit(run_chaos(options))


def _register_parts() -> None:
    # Each part owns its subcommands; imported here so `vendfleet --help` lists them all.
    from cloud.cli import app as cloud_app
    from firmware_sim.cli import app as sim_app
    from gateway.cli import app as gateway_app
    from gateway.cli import ctl_app

    app.add_typer(sim_app, name="sim")
    app.add_typer(gateway_app, name="gateway")
    app.add_typer(ctl_app, name="ctl")
    app.add_typer(cloud_app, name="cloud")


_register_parts()
