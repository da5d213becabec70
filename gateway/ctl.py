"""`vendfleet ctl unlock`: sign an unlock as the cloud would, publish it, print the ack."""

from __future__ import annotations

import json
import queue
import uuid
from datetime import UTC, datetime, timedelta
from pathlib import Path

import typer

from gateway.mqtt_link import new_client
from protocols.mqtt.broker_url import BrokerAddress
from protocols.mqtt.schemas import Ack, Command, UnlockAction, encode, parse
from protocols.mqtt.topics import Channel, topic
from protocols.signing import load_private_key, sign_command


def unlock_command(
    cabinet: str = typer.Option(..., help="Cabinet id"),
    door: int = typer.Option(0),
    key: Path = typer.Option(..., help="The cloud's private key (PEM)"),
    mqtt: str = typer.Option("mqtt://127.0.0.1:1883"),
    restock: bool = typer.Option(False, help="Open in restock mode"),
    timeout: float = typer.Option(10.0, help="Seconds to wait for the ack"),
    session_id: str | None = typer.Option(None),
    username: str | None = typer.Option(None),
    password: str | None = typer.Option(None),
) -> None:
    """Exit 0 when the gateway accepts, 1 when it rejects, 2 when nobody answers."""
    now = datetime.now(UTC)
    action = UnlockAction(
        door=door,
        session_id=session_id or f"ctl-{uuid.uuid4().hex[:12]}",
        mode="restock" if restock else "resident",
    )
    unsigned = Command(
        command_id=uuid.uuid4(),
        cabinet_id=cabinet,
        ts=now,
        expires_at=now + timedelta(seconds=60),
        body=action,
    )
    command = sign_command(unsigned, load_private_key(key.read_bytes()))
    ack = _publish_and_wait(command, mqtt, timeout, username, password)
    if ack is None:
        typer.echo(json.dumps({"command_id": str(command.command_id), "status": "unanswered"}))
        raise typer.Exit(2)
    typer.echo(ack.model_dump_json())
    raise typer.Exit(0 if ack.status in ("accepted", "done") else 1)


def _publish_and_wait(
    command: Command, url: str, timeout: float, username: str | None, password: str | None
) -> Ack | None:
    address = BrokerAddress.parse(url)
    acks: queue.Queue[Ack] = queue.Queue()
    subscribed: queue.Queue[bool] = queue.Queue()
    client = new_client(
        f"vf-ctl-{uuid.uuid4().hex[:8]}", username=username, password=password, tls=address.tls
    )

    def on_message(c: object, u: object, message: object) -> None:
        try:
            ack = parse(Ack, message.payload)  # type: ignore[attr-defined]
        except Exception:  # noqa: BLE001 - someone else's garbage on the topic
            return
        if ack.command_id == command.command_id:
            acks.put(ack)

    client.on_message = on_message
    client.on_subscribe = lambda *args: subscribed.put(True)
    client.connect(address.host, address.port)
    client.subscribe(topic(command.cabinet_id, Channel.ACK), qos=1)
    client.loop_start()
    try:
        subscribed.get(timeout=timeout)
        client.publish(topic(command.cabinet_id, Channel.CMD), encode(command), qos=1).wait_for_publish(
            timeout
        )
        return acks.get(timeout=timeout)
    except queue.Empty:
        return None
    finally:
        client.loop_stop()
        client.disconnect()
