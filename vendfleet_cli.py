"""The `vendfleet` command: one entry point whose subcommands come from each part."""

import ctypes
import importlib
import os
import signal
import sys
from pathlib import Path

import typer

from protocols.signing import generate_keypair

PR_SET_PDEATHSIG = 1  # linux/prctl.h

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
    """The whole system on embedded defaults: SQLite, an embedded broker, simulated cabinets.

    SIGTERM or Ctrl-C stops it and its children within 2 s, exit code 0 (no reconciliation then)."""
    from firmware_sim.demo.run import DemoOptions, run_demo
    from protocols.runtime.shutdown import exit_now

    options = DemoOptions(cabinets, speed, duration, browser, manifest, data_dir, port, residents)
    exit_now(run_demo(options))


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


def _die_with_parent() -> None:
    """A child of the demo (VF_DIE_WITH_PARENT=its pid) gets SIGTERM when the demo dies, however."""
    parent = os.environ.pop("VF_DIE_WITH_PARENT", None)
    if parent is None or not sys.platform.startswith("linux"):
        return
    ctypes.CDLL(None).prctl(PR_SET_PDEATHSIG, signal.SIGTERM)
    if os.getppid() != int(parent):  # it died before we asked
        sys.exit(0)


# Each part owns its subcommands. Only the part named on the command line is imported (all of them
# for --help): the cloud alone takes seconds to import, which `vendfleet demo`, a simulator or a
# gateway should not pay at every start.
PARTS = {
    "sim": ("firmware_sim.cli", "app"),
    "gateway": ("gateway.cli", "app"),
    "ctl": ("gateway.cli", "ctl_app"),
    "cloud": ("cloud.cli", "app"),
}
OWN_COMMANDS = {"demo", "keys"}


def _register_parts(argv: list[str]) -> None:
    named = argv[1] if len(argv) > 1 else None
    wanted = [named] if named in PARTS else [] if named in OWN_COMMANDS else list(PARTS)
    for name in wanted:
        module, attribute = PARTS[name]
        app.add_typer(getattr(importlib.import_module(module), attribute), name=name)


_die_with_parent()
_register_parts(sys.argv)
