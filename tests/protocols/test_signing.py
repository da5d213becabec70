"""Command signing: only the cloud's fresh, unreplayed commands for this cabinet pass."""

import base64
from datetime import UTC, datetime, timedelta
from uuid import uuid4

import pytest

from protocols import ProtocolError
from protocols.mqtt.schemas import Command, UnlockAction, encode
from protocols.signing import (
    CommandRejected,
    CommandVerifier,
    MemoryReplayGuard,
    generate_keypair,
    load_private_key,
    load_public_key,
    sign_command,
)

NOW = datetime(2026, 11, 24, 8, 30, tzinfo=UTC)
PAIR = generate_keypair()
KEY = load_private_key(PAIR.private_pem)


def unlock(cabinet: str = "CAB-001", issued: datetime = NOW, life: float = 60) -> Command:
    return Command(
        command_id=uuid4(),
        cabinet_id=cabinet,
        ts=issued,
        expires_at=issued + timedelta(seconds=life),
        body=UnlockAction(door=0, session_id="s-1"),
    )


def verifier() -> CommandVerifier:
    return CommandVerifier(load_public_key(PAIR.public_pem), "CAB-001", MemoryReplayGuard())


def rejection(raw: bytes | str, v: CommandVerifier | None = None) -> str:
    with pytest.raises(CommandRejected) as info:
        (v or verifier()).verify(raw, NOW)
    return info.value.reason


def test_signed_command_is_accepted() -> None:
    command = sign_command(unlock(), KEY)
    assert verifier().verify(encode(command), NOW) == command


def test_tampered_command_is_rejected() -> None:
    signed = sign_command(unlock(), KEY)
    tampered = signed.model_copy(update={"body": UnlockAction(door=1, session_id="s-1")})
    assert rejection(encode(tampered)) == "bad_signature"


def test_forged_signature_is_rejected() -> None:
    other = load_private_key(generate_keypair().private_pem)
    assert rejection(encode(sign_command(unlock(), other))) == "bad_signature"
    garbage = unlock().model_copy(update={"signature": "!!not base64"})
    assert rejection(encode(garbage)) == "bad_signature"
    unsigned = unlock().model_copy(update={"signature": base64.b64encode(b"x" * 64).decode()})
    assert rejection(encode(unsigned)) == "bad_signature"


def test_expired_and_future_commands_are_rejected() -> None:
    assert rejection(encode(sign_command(unlock(issued=NOW - timedelta(minutes=2)), KEY))) == ("expired")
    assert rejection(encode(sign_command(unlock(issued=NOW + timedelta(minutes=5)), KEY))) == (
        "not_yet_valid"
    )
    assert rejection(encode(sign_command(unlock(life=3600), KEY))) == "expired"


def test_command_for_another_cabinet_is_rejected() -> None:
    assert rejection(encode(sign_command(unlock(cabinet="CAB-002"), KEY))) == "wrong_cabinet"


def test_replayed_command_is_rejected() -> None:
    v = verifier()
    raw = encode(sign_command(unlock(), KEY))
    v.verify(raw, NOW)
    assert rejection(raw, v) == "replayed"


def test_malformed_command_is_rejected_with_reason() -> None:
    with pytest.raises(CommandRejected, match="malformed: Command: cabinet_id: Field required"):
        verifier().verify(b'{"command_id": "' + str(uuid4()).encode() + b'"}', NOW)


def test_configs_are_accepted_only_when_signed_for_this_cabinet() -> None:
    from protocols.mqtt.schemas import Config
    from protocols.planogram import Planogram
    from protocols.signing import sign, verify_config

    config = Config(version=2, cabinet_id="CAB-001", planogram=Planogram())
    public = load_public_key(PAIR.public_pem)
    assert verify_config(encode(sign(config, KEY)), public, "CAB-001").version == 2
    with pytest.raises(ProtocolError, match="not signed"):
        verify_config(encode(config), public, "CAB-001")
    tampered = sign(config, KEY).model_copy(update={"version": 3})
    with pytest.raises(ProtocolError, match="not signed"):
        verify_config(encode(tampered), public, "CAB-001")
    with pytest.raises(ProtocolError, match="addressed to CAB-001"):
        verify_config(encode(sign(config, KEY)), public, "CAB-002")


def test_a_signature_of_the_wrong_length_is_rejected() -> None:
    short = sign_command(unlock(), KEY)
    short = short.model_copy(
        update={"signature": base64.b64encode(base64.b64decode(short.signature)[:63]).decode()}
    )
    assert rejection(encode(short)) == "bad_signature"


def test_the_public_key_is_read_from_its_pem_whatever_the_line_endings() -> None:
    from cryptography.hazmat.primitives.asymmetric import ed25519
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    private = ed25519.Ed25519PrivateKey.generate()
    pem = private.public_key().public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    crlf = pem.replace(b"\n", b"\r\n")
    for written in (pem, crlf, b"\n" + pem + b"\n\n"):
        key = load_public_key(written)
        assert bytes(key) == private.public_key().public_bytes(Encoding.Raw, PublicFormat.Raw)
    command = sign_command(unlock(), private)
    assert CommandVerifier(load_public_key(crlf), "CAB-001", MemoryReplayGuard()).verify(encode(command), NOW)


def test_a_public_key_that_is_not_ed25519_is_refused() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec
    from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

    ec_pem = (
        ec.generate_private_key(ec.SECP256R1())
        .public_key()
        .public_bytes(Encoding.PEM, PublicFormat.SubjectPublicKeyInfo)
    )
    private_pem = PAIR.private_pem
    truncated = PAIR.public_pem.replace(PAIR.public_pem.splitlines()[1], PAIR.public_pem.splitlines()[1][:-8])
    for pem, why in (
        (ec_pem, "must be Ed25519"),
        (private_pem, "must be a PEM block"),
        (truncated, "Ed25519|base64"),
        (b"", "must be a PEM block"),
        (PAIR.public_pem.replace(b"MC", b"!!", 1), "base64"),
    ):
        with pytest.raises(ProtocolError, match=why):
            load_public_key(pem)
