"""What a cloud process holds once: settings, database, keys, publisher, payment provider."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Protocol

from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from cloud.commands import CloudKeys, CommandSigner
from cloud.db.engine import make_engine, session_factory
from cloud.domain.auth import LogSender, OtpSender, TokenSigner
from cloud.domain.payments import PaymentProvider, PrepaidBalance
from cloud.domain.throttle import Throttle
from cloud.mqtt import Publisher
from cloud.settings import CloudSettings


class Worker(Protocol):
    """A background worker /healthz reports on (the ingest workers of this process)."""

    name: str

    def alive(self) -> bool: ...


@dataclass
class CloudContext:
    settings: CloudSettings
    engine: Engine
    factory: sessionmaker[Session]
    keys: CloudKeys
    signer: CommandSigner
    tokens: TokenSigner
    publisher: Publisher | None
    payments: PaymentProvider = field(default_factory=PrepaidBalance)
    otp_sender: OtpSender = field(default_factory=LogSender)
    workers: list[Worker] = field(default_factory=list)
    throttle: Throttle = field(default_factory=lambda: Throttle("memory://"))
    # Called after a use case committed outbox rows: the dispatcher delivers them now, not at its next poll.
    outbox_committed: Callable[[], None] = lambda: None

    @classmethod
    def build(cls, settings: CloudSettings, mqtt_url: str | None) -> CloudContext:
        engine = make_engine(settings.db)
        keys = CloudKeys.load(settings.key_dir, mint=not settings.production)
        return cls(
            settings=settings,
            engine=engine,
            factory=session_factory(engine),
            keys=keys,
            signer=CommandSigner(keys.private, timedelta(seconds=settings.command_ttl_s)),
            tokens=TokenSigner(keys.token_secret, timedelta(seconds=settings.token_ttl_s)),
            # Sign-in limits: this process's memory, or the Redis it shares with other API processes.
            throttle=Throttle(settings.throttle_storage),
            publisher=Publisher(mqtt_url, "api", settings.mqtt_username, settings.mqtt_password)
            if mqtt_url
            else None,
        )

    def close(self) -> None:
        if self.publisher:
            self.publisher.close()
        self.engine.dispose()
