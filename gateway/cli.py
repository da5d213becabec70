"""`vendfleet gateway run`, `vendfleet gateway lint` and `vendfleet ctl unlock`."""

from __future__ import annotations

from pathlib import Path

import typer

from gateway.ctl import unlock_command
from gateway.run import serve
from protocols.mqtt.schemas import Config, parse
from protocols.planogram_lint import lint_planogram

app = typer.Typer(no_args_is_help=True, help="The per-cabinet gateway.")
ctl_app = typer.Typer(no_args_is_help=True, help="Commissioning tools: talk to a cabinet over MQTT.")
ctl_app.command("unlock")(unlock_command)


@app.command()
def run(
    cabinet_id: str | None = typer.Option(None, help="This cabinet's id (the MQTT topic level)"),
    serial: str | None = typer.Option(None, help="Device path, pty path or pyserial URL"),
    mqtt: str | None = typer.Option(None, help="mqtt://HOST:PORT or mqtts://HOST:PORT"),
    data_dir: Path | None = typer.Option(None, help="Where the outbox and state live"),
    cloud_key: Path | None = typer.Option(None, help="The cloud's public key (PEM)"),
    username: str | None = typer.Option(None),
    password: str | None = typer.Option(None),
    tls_ca: Path | None = typer.Option(None),
    tls_cert: Path | None = typer.Option(None),
    tls_key: Path | None = typer.Option(None),
    planogram: Path | None = typer.Option(None, help="Standalone: a config payload file"),
    config: Path | None = typer.Option(None, envvar="VF_CONFIG", help="TOML settings file"),
    metrics_port: int | None = typer.Option(None, help="Serve Prometheus metrics on 127.0.0.1:PORT"),
    log_level: str = typer.Option("INFO"),
) -> None:
    """Run the gateway until SIGTERM or Ctrl-C (then exit code 0); a board runs `python -m gateway`."""
    serve(
        config,
        log_level,
        cabinet_id=cabinet_id,
        serial=serial,
        mqtt=mqtt,
        data_dir=data_dir,
        cloud_key=cloud_key,
        username=username,
        password=password,
        tls_ca=tls_ca,
        tls_cert=tls_cert,
        tls_key=tls_key,
        planogram=planogram,
        metrics_port=metrics_port,
    )


@app.command()
def lint(
    config: Path = typer.Argument(..., exists=True, dir_okay=False, help="A `config` JSON (planogram file)"),
    max_take: int | None = typer.Option(None, help="Pieces one resident may take (default: the config's)"),
) -> None:
    """Say which counts one shelf cannot tell apart, as the gateway and the cloud would refuse them."""
    parsed = parse(Config, config.read_bytes())
    problems = lint_planogram(parsed.planogram, max_take=max_take or parsed.settings.max_take)
    for problem in problems:
        typer.echo(problem.message)
    if problems:
        raise typer.Exit(1)
    typer.echo("every shelf tells its baskets apart")
