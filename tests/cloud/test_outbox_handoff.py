"""#13: an unlock is published the moment its transaction commits, with no round of claiming first; if
the process that committed it dies before the broker has it, the rows' lease hands it to any dispatcher.
Against a real Mosquitto, on SQLite and PostgreSQL."""

from __future__ import annotations

import queue
import uuid
from collections.abc import Iterator

import paho.mqtt.client as mqtt
import pytest
from paho.mqtt.enums import CallbackAPIVersion
from sqlalchemy import select, update
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CommandSigner
from cloud.db.engine import transaction
from cloud.db.models import OutboxMessage
from cloud.dispatcher import Dispatcher
from cloud.domain import outbox
from cloud.domain.payments import PrepaidBalance
from cloud.mqtt import Publisher
from firmware_sim.demo.servers import MosquittoServer
from protocols.mqtt.schemas import Command, parse
from protocols.mqtt.topics import Channel, topic

CAB = f"HANDOFF-{uuid.uuid4().hex[:6]}"  # the shared broker: no other test's commands on this topic


@pytest.fixture
def commands(mosquitto: MosquittoServer) -> Iterator[queue.Queue[Command]]:
    """What the cabinet would receive on its command topic."""
    received: queue.Queue[Command] = queue.Queue()
    client = mqtt.Client(CallbackAPIVersion.VERSION2, protocol=mqtt.MQTTv311)
    client.on_message = lambda c, u, m: received.put(parse(Command, m.payload))
    client.connect("127.0.0.1", mosquitto.port)
    client.subscribe(topic(CAB, Channel.CMD), qos=1)
    client.loop_start()
    yield received
    client.loop_stop()
    client.disconnect()


@pytest.fixture
def publisher(mosquitto: MosquittoServer) -> Iterator[Publisher]:
    publisher = Publisher(mosquitto.url, "handoff-test")
    assert publisher.wait_connected()
    yield publisher
    publisher.close()


def queue_unlock(factory: sessionmaker[Session], signer: CommandSigner) -> Command:
    command = signer.unlock(CAB, 0, uuid.uuid4().hex[:16], "resident")
    with transaction(factory) as db:
        outbox.send_command(db, command)
    return command


def outcome(factory: sessionmaker[Session], command: Command) -> str | None:
    with factory() as db:
        key = outbox.command_key(command)
        return db.scalar(select(OutboxMessage.outcome).where(OutboxMessage.key == key))


def test_a_committed_unlock_is_published_at_once(
    factory: sessionmaker[Session],
    signer: CommandSigner,
    publisher: Publisher,
    commands: queue.Queue[Command],
) -> None:
    # A long idle poll: only the commit's hand-off can deliver it in time.
    dispatcher = Dispatcher(factory, publisher, PrepaidBalance(), idle_poll_s=60).send_on_commit().start()
    try:
        command = queue_unlock(factory, signer)
        assert commands.get(timeout=5).command_id == command.command_id
    finally:
        dispatcher.stop()
    assert outcome(factory, command) == "delivered"


def test_an_unlock_its_sender_never_published_goes_out_when_the_lease_runs_out(
    factory: sessionmaker[Session],
    signer: CommandSigner,
    publisher: Publisher,
    commands: queue.Queue[Command],
) -> None:
    # A cloud process that committed the unlock, claimed for it to send, and died before sending.
    died = sessionmaker(bind=factory.kw["bind"], info={outbox.SENDS_ON_COMMIT: True})
    command = queue_unlock(died, signer)
    survivor = Dispatcher(factory, publisher, PrepaidBalance())
    assert survivor.deliver_due() == 0  # the lease is the dead process's: nobody sends it twice
    assert commands.empty()
    with transaction(factory) as db:  # the lease runs out
        db.execute(update(OutboxMessage).values(next_attempt_at=OutboxMessage.created_at))
    assert survivor.deliver_due() >= 1
    assert commands.get(timeout=5).command_id == command.command_id
    assert outcome(factory, command) == "delivered"
