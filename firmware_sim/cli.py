"""`vendfleet sim`: run a simulated cabinet, print the planogram of a layout, play a fleet over MQTT."""

from __future__ import annotations

import json
from pathlib import Path

import typer

from firmware_sim.faults import parse_spec
from firmware_sim.layout import load_layout, planogram_of
from firmware_sim.run import start_cabinet
from protocols.mqtt.schemas import Config, encode
from protocols.runtime.shutdown import exit_stopped, stop_requested, stop_together, wait_for_stop

app = typer.Typer(no_args_is_help=True, help="Simulated cabinet hardware.")


@app.command()
def cabinet(
    layout: str = typer.Option(..., help="Layout name (firmware_sim/layouts) or JSON file"),
    serial: str = typer.Option("pty", help="'pty' or socket://HOST:PORT"),
    control: str | None = typer.Option(None, help="HOST:PORT for world control (port 0: any)"),
    seed: int = typer.Option(0, help="Seed of every random draw (piece weights, noise)"),
    faults: str = typer.Option("", help="e.g. corrupt=0.01,drop=0.005,dead_board=0x20"),
    speed: float = typer.Option(1.0, help="Simulated seconds per real second"),
) -> None:
    """Serve a simulated cabinet until SIGTERM or Ctrl-C (then exit code 0)."""
    stop = stop_requested()
    try:
        running = start_cabinet(
            layout, serial=serial, control=control, seed=seed, speed=speed, faults=parse_spec(faults)
        )
    except OSError as exc:
        typer.echo(f"vendfleet sim cabinet: {exc.strerror or exc}", err=True)
        raise typer.Exit(1) from None
    print(f"serial: {running.serial_path}", flush=True)
    if running.control_url:
        print(f"control: {running.control_url}", flush=True)
    wait_for_stop(stop)
    exit_stopped(stop_together([running.stop]))


@app.command()
def planogram(layout: str = typer.Option(..., help="Layout name or JSON file")) -> None:
    """Print the planogram of a layout as the `config` payload the cloud would send."""
    config = Config(version=1, planogram=planogram_of(load_layout(layout)))
    print(encode(config).decode())


@app.command()
def fleet(
    cabinets: int = typer.Option(100, help="How many cabinets, each its own MQTT connection"),
    mqtt: str = typer.Option(..., help="Broker URL"),
    rate: float = typer.Option(40.0, help="Visits per cabinet per day (a visit: door opened, closed)"),
    duration: float = typer.Option(60.0, help="Seconds to play"),
    hour: int | None = typer.Option(None, min=0, max=23, help="Play this local hour all along"),
    prefix: str = typer.Option("SIM-", help="Cabinet codes are PREFIX00000, PREFIX00001, …"),
    telemetry: float = typer.Option(60.0, help="Seconds between a cabinet's telemetry samples"),
    fixture: Path | None = typer.Option(None, help="Write the cloud's seed fixture here and exit"),
) -> None:
    """Play many cabinets over MQTT as their gateways do; print events sent, acked, resent and ack latency."""
    from firmware_sim.fleet import FleetOptions, play, seed_fixture  # paho only here

    options = FleetOptions(
        cabinets=cabinets, mqtt_url=mqtt, rate=rate, duration_s=duration, hour=hour, prefix=prefix,
        telemetry_s=telemetry,
    )  # fmt: skip
    if fixture is not None:
        fixture.write_text(json.dumps(seed_fixture(options), ensure_ascii=False))
        return
    print(json.dumps(play(options)), flush=True)
