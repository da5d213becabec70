"""The cloud's command key: created once in the key dir, used to sign every command."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from protocols.mqtt.schemas import Command, Config, SessionMode, UnlockAction
from protocols.signing import generate_keypair, load_private_key, sign, sign_command


@dataclass(frozen=True)
class CloudKeys:
    private: Ed25519PrivateKey
    public_pem: bytes
    token_secret: bytes

    @classmethod
    def load_or_create(cls, key_dir: Path) -> CloudKeys:
        key_dir.mkdir(parents=True, exist_ok=True)
        private, public = key_dir / "private.pem", key_dir / "public.pem"
        if not private.exists():
            pair = generate_keypair()
            private.write_bytes(pair.private_pem)
            private.chmod(0o600)
            public.write_bytes(pair.public_pem)
        secret = key_dir / "token.secret"
        if not secret.exists():
            secret.write_bytes(secrets.token_bytes(32))
            secret.chmod(0o600)
        return cls(load_private_key(private.read_bytes()), public.read_bytes(), secret.read_bytes())


@dataclass(frozen=True)
class CommandSigner:
    key: Ed25519PrivateKey
    ttl: timedelta

    def unlock(self, cabinet_code: str, door: int, session_id: str, mode: SessionMode) -> Command:
        now = datetime.now(UTC)
        command = Command(
            command_id=uuid.uuid4(),
            cabinet_id=cabinet_code,
            ts=now,
            expires_at=now + self.ttl,
            body=UnlockAction(door=door, session_id=session_id, mode=mode),
        )
        return sign_command(command, self.key)

    def config(self, config: Config) -> Config:
        """A planogram decides what residents are charged: the gateway applies only signed ones."""
        return sign(config, self.key)
