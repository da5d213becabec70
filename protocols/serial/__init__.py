"""RS-485 bus between the gateway (master) and the cabinet's boards; see protocols/SERIAL.md.

`frame` cuts bytes into frames, `commands` gives frames their meaning; these two helpers join them.
"""

from protocols.serial.commands import Message, decode_message, encode_message
from protocols.serial.frame import Frame


def message_frame(addr: int, seq: int, message: Message) -> Frame:
    """The frame carrying `message` to or from the board at `addr`."""
    cmd, payload = encode_message(message)
    return Frame(addr, seq, cmd, payload)


def frame_message(frame: Frame) -> Message:
    """The message a frame carries; raises PayloadError when its payload does not fit."""
    return decode_message(frame.cmd, frame.payload)
