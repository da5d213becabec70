"""The cloud's command key: created once in the key dir, used to sign every command."""

from __future__ import annotations

import secrets
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import structlog
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from cloud.settings import KEY_FILES
from protocols.mqtt.schemas import Command, Config, SessionMode, TareAction, UnlockAction
from protocols.signing import generate_keypair, load_private_key, sign, sign_command

log = structlog.get_logger("cloud")


@dataclass(frozen=True)
class CloudKeys:
    private: Ed25519PrivateKey
    public_pem: bytes
    token_secret: bytes

    @classmethod
    def load(cls, key_dir: Path, *, mint: bool) -> CloudKeys:
        """The keys in `key_dir`. A missing one is created only if `mint` (development): minted anew in
        production, it would reject every provisioned gateway and every token already issued."""
        private, public, secret = (key_dir / name for name in KEY_FILES)
        missing = [p for p in (private, public, secret) if not p.exists()]
        if missing and not mint:
            names = ", ".join(str(p) for p in missing)
            raise MissingKey(
                f"no signing key: {names} missing (set VF_KEY_DIR or --key-dir to the cloud's keys)"
            )
        if missing:
            log.warning("minting new cloud keys", key_dir=str(key_dir))
            key_dir.mkdir(parents=True, exist_ok=True)
        if not private.exists():
            pair = generate_keypair()
            private.write_bytes(pair.private_pem)
            private.chmod(0o600)
            public.write_bytes(pair.public_pem)
        if not secret.exists():
            secret.write_bytes(secrets.token_bytes(32))
            secret.chmod(0o600)
        return cls(load_private_key(private.read_bytes()), public.read_bytes(), secret.read_bytes())


class MissingKey(RuntimeError):
    """The cloud's keys are not where its settings say."""


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

    def tare(self, cabinet_code: str, channel: int) -> Command:
        """Zero one load cell (its shelf emptied first): a recalibration (cloud/domain/recalibration.py)."""
        now = datetime.now(UTC)
        command = Command(
            command_id=uuid.uuid4(),
            cabinet_id=cabinet_code,
            ts=now,
            expires_at=now + self.ttl,
            body=TareAction(channel=channel),
        )
        return sign_command(command, self.key)

    def config(self, config: Config) -> Config:
        """A planogram decides what residents are charged: the gateway applies only signed ones."""
        return sign(config, self.key)
