"""The MQTT topic tree `vf/v1/{cabinet_id}/{channel}`: built and parsed here and nowhere else."""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass

from protocols import ProtocolError

ROOT = "vf/v1"
CABINET_ID = re.compile(r"^[A-Za-z0-9_-]{1,64}$")


class TopicError(ProtocolError):
    """A topic outside the vendfleet tree."""


class Channel(enum.StrEnum):
    STATUS = "status"  # gateway → cloud, retained, last will
    TELEMETRY = "telemetry"  # gateway → cloud
    EVENTS = "events"  # gateway → cloud, acknowledged end to end by EVACK
    CMD = "cmd"  # cloud → gateway, signed
    ACK = "ack"  # gateway → cloud
    CONFIG = "config"  # cloud → gateway, retained
    EVACK = "evack"  # cloud → gateway


@dataclass(frozen=True, slots=True)
class Topic:
    cabinet_id: str
    channel: Channel

    def __str__(self) -> str:
        return f"{ROOT}/{self.cabinet_id}/{self.channel}"


def topic(cabinet_id: str, channel: Channel) -> str:
    """The topic of one cabinet's channel."""
    if not CABINET_ID.match(cabinet_id):
        raise TopicError(f"cabinet id {cabinet_id!r} must match {CABINET_ID.pattern}")
    return str(Topic(cabinet_id, channel))


def parse_topic(name: str) -> Topic:
    """The cabinet and channel of a concrete topic."""
    parts = name.split("/")
    if len(parts) != 4 or "/".join(parts[:2]) != ROOT:
        raise TopicError(f"topic {name!r} is not {ROOT}/<cabinet>/<channel>")
    cabinet_id, channel = parts[2], parts[3]
    if not CABINET_ID.match(cabinet_id):
        raise TopicError(f"topic {name!r}: bad cabinet id {cabinet_id!r}")
    try:
        return Topic(cabinet_id, Channel(channel))
    except ValueError:
        raise TopicError(f"topic {name!r}: unknown channel {channel!r}") from None


def fleet_filter(channel: Channel, share_group: str | None = None) -> str:
    """Subscription filter for one channel of every cabinet, optionally shared between workers."""
    base = f"{ROOT}/+/{channel}"
    return f"$share/{share_group}/{base}" if share_group else base


def cabinet_filter(cabinet_id: str) -> str:
    """Everything under one cabinet (the broker ACL grants exactly this)."""
    return f"{topic(cabinet_id, Channel.STATUS).rsplit('/', 1)[0]}/#"
