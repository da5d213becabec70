"""The shared test vectors decode to exactly what they say, and encode back to their bytes."""

import json
from pathlib import Path
from typing import Any

import pytest

import protocols
from protocols.serial import frame_message, message_frame
from protocols.serial.commands import REQUESTS, Command, message_to_dict
from protocols.serial.frame import Frame, FrameDecoder, encode_frame

VECTORS_PATH = Path(protocols.__file__).parent / "vectors" / "serial.json"
VECTORS: list[dict[str, Any]] = json.loads(VECTORS_PATH.read_text())


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_vector_decodes_to_its_meaning(vector: dict[str, Any]) -> None:
    items = FrameDecoder().feed(bytes.fromhex(vector["hex"]))
    assert len(items) == 1
    frame = items[0]
    assert isinstance(frame, Frame)
    assert (frame.addr, frame.seq, Command(frame.cmd).name) == (
        vector["frame"]["addr"],
        vector["frame"]["seq"],
        vector["frame"]["cmd"],
    )
    message = frame_message(frame)
    assert message_to_dict(message) == vector["frame"]["payload"]
    assert encode_frame(message_frame(frame.addr, frame.seq, message)).hex() == vector["hex"]


def test_vectors_cover_every_command_both_ways() -> None:
    requests = {v["frame"]["cmd"] for v in VECTORS if v["direction"] == "request"}
    answers = {v["frame"]["cmd"] for v in VECTORS if v["direction"] == "answer"}
    assert requests == {m.command.name for m in REQUESTS}
    assert {"ACK", "NACK", "INFO", "STATUS", "WEIGHTS", "CLIMATE"} <= answers
