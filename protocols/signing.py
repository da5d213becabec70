"""Ed25519 signing of cloud → gateway commands, and the gateway's verifier.

The signature covers the canonical JSON of the command without its `signature` field (keys
sorted, no whitespace, UTF-8); commands carry no floats, so this encoding is unambiguous.

The cloud signs with `cryptography` (PKCS#8 private keys); a gateway only verifies, with PyNaCl
(libsodium): `cryptography` loads a 14 MB library, about 6 MB resident, on a board whose whole
service must fit in 50 MB (#13). So `cryptography` is imported only where a private key is made or read.
"""

from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Protocol, TypeVar
from uuid import UUID

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from protocols import ProtocolError
from protocols.mqtt.schemas import Command, Config, PayloadInvalid, RejectReason, parse

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

MAX_LIFETIME = timedelta(minutes=10)
CLOCK_SKEW = timedelta(seconds=60)


class CommandRejected(ProtocolError):
    def __init__(self, reason: RejectReason, detail: str, command_id: UUID | None = None):
        super().__init__(f"{reason}: {detail}")
        self.reason: RejectReason = reason
        self.detail = detail
        self.command_id = command_id


Signed = TypeVar("Signed", Command, Config)


def canonical_bytes(payload: Command | Config) -> bytes:
    # Floats (planogram weights) are written by Python's shortest round-trip repr on both sides.
    body = payload.model_dump(mode="json", exclude={"signature"})
    return json.dumps(body, sort_keys=True, separators=(",", ":"), ensure_ascii=False).encode()


def sign(payload: Signed, key: Ed25519PrivateKey) -> Signed:
    """The same command or config with its signature set."""
    signature = key.sign(canonical_bytes(payload))
    return payload.model_copy(update={"signature": base64.b64encode(signature).decode()})


sign_command = sign


def signed_by(payload: Command | Config, key: VerifyKey) -> bool:
    try:
        key.verify(canonical_bytes(payload), base64.b64decode(payload.signature, validate=True))
    except (BadSignatureError, ValueError):  # not base64 (binascii.Error), or not 64 bytes long
        return False
    return True


def verify_config(raw: bytes | str, key: VerifyKey, cabinet_id: str) -> Config:
    """A config from the broker, only if the cloud signed it for this cabinet."""
    config = parse(Config, raw)
    if not signed_by(config, key):
        raise ProtocolError("config not signed by the cloud key: ignored")
    if config.cabinet_id != cabinet_id:
        raise ProtocolError(f"config addressed to {config.cabinet_id}: ignored")
    return config


@dataclass(frozen=True, slots=True)
class KeyPair:
    private_pem: bytes
    public_pem: bytes


def generate_keypair() -> KeyPair:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = Ed25519PrivateKey.generate()
    private_pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    public_pem = key.public_key().public_bytes(
        serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
    )
    return KeyPair(private_pem, public_pem)


def load_private_key(pem: bytes) -> Ed25519PrivateKey:
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

    key = serialization.load_pem_private_key(pem, password=None)
    if not isinstance(key, Ed25519PrivateKey):
        raise ProtocolError("the command signing key must be Ed25519")
    return key


# DER is canonical: every Ed25519 SubjectPublicKeyInfo (RFC 8410) is this prefix and the 32-byte key.
_ED25519_SPKI_PREFIX = bytes.fromhex("302a300506032b6570032100")
_PEM_BEGIN, _PEM_END = "-----BEGIN PUBLIC KEY-----", "-----END PUBLIC KEY-----"


def load_public_key(pem: bytes) -> VerifyKey:
    """The cloud's public key from its PEM (SubjectPublicKeyInfo, as cryptography or openssl write it)."""
    lines = pem.decode("ascii", errors="replace").strip().splitlines()
    if len(lines) < 3 or lines[0].strip() != _PEM_BEGIN or lines[-1].strip() != _PEM_END:
        raise ProtocolError(f"the command verification key must be a PEM block {_PEM_BEGIN}")
    try:
        der = base64.b64decode("".join(line.strip() for line in lines[1:-1]), validate=True)
    except binascii.Error:
        raise ProtocolError("the command verification key is not valid base64 PEM") from None
    if len(der) != len(_ED25519_SPKI_PREFIX) + 32 or not der.startswith(_ED25519_SPKI_PREFIX):
        raise ProtocolError("the command verification key must be Ed25519")
    return VerifyKey(der[len(_ED25519_SPKI_PREFIX) :])


class ReplayGuard(Protocol):
    """Remembers the command ids already accepted, at least until they expire."""

    def seen(self, command_id: UUID) -> bool: ...

    def remember(self, command_id: UUID, expires_at: datetime) -> None: ...


class MemoryReplayGuard:
    def __init__(self) -> None:
        self._ids: dict[UUID, datetime] = {}

    def seen(self, command_id: UUID) -> bool:
        return command_id in self._ids

    def remember(self, command_id: UUID, expires_at: datetime) -> None:
        self._ids = {k: v for k, v in self._ids.items() if v > expires_at - MAX_LIFETIME}
        self._ids[command_id] = expires_at


class CommandVerifier:
    """Accepts a command only if signed by the cloud, for this cabinet, in time, and new."""

    def __init__(self, public_key: VerifyKey, cabinet_id: str, guard: ReplayGuard) -> None:
        self._key = public_key
        self._cabinet_id = cabinet_id
        self._guard = guard

    def verify(self, raw: bytes | str, now: datetime) -> Command:
        """The command, or CommandRejected with the first reason that applies."""
        try:
            command = parse(Command, raw)
        except PayloadInvalid as exc:
            raise CommandRejected("malformed", str(exc)) from None
        cid = command.command_id
        if not signed_by(command, self._key):
            raise CommandRejected("bad_signature", "not signed by the cloud key", cid)
        if command.cabinet_id != self._cabinet_id:
            raise CommandRejected("wrong_cabinet", f"addressed to {command.cabinet_id}", cid)
        self._check_time(command, now)
        if self._guard.seen(cid):
            raise CommandRejected("replayed", f"command {cid} was already accepted", cid)
        self._guard.remember(cid, command.expires_at)
        return command

    @staticmethod
    def _check_time(command: Command, now: datetime) -> None:
        cid = command.command_id
        if command.ts - CLOCK_SKEW > now:
            raise CommandRejected("not_yet_valid", f"issued at {command.ts}, now {now}", cid)
        if command.expires_at <= now:
            raise CommandRejected("expired", f"expired at {command.expires_at}", cid)
        if command.expires_at - command.ts > MAX_LIFETIME:
            # Replay protection only remembers ids this long.
            raise CommandRejected("expired", f"lifetime over {MAX_LIFETIME}", cid)
