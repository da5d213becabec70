"""Cabinets' signed configs on their retained `config` topics: the one way they go out."""

from __future__ import annotations

from sqlalchemy.orm import Session

from cloud.context import CloudContext
from cloud.db.models import Cabinet
from cloud.domain.fleet import config_payload
from protocols.mqtt.schemas import Config
from protocols.mqtt.topics import Channel
from protocols.signing import sign


def signed_config(context: CloudContext, db: Session, cabinet: Cabinet) -> Config:
    return sign(config_payload(db, cabinet), context.keys.private)


def publish_configs(context: CloudContext, configs: list[Config]) -> None:
    """Publish configs built in a committed transaction (call it after the commit)."""
    if context.publisher is None:
        return
    for config in configs:
        assert config.cabinet_id is not None
        context.publisher.publish(config.cabinet_id, Channel.CONFIG, config, retain=True)
