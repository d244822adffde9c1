"""The camera's TCP SDK framing (port 8131), as ``vzenith/vzenith_tcp_protocol``
(``src/vzsdk/session.cpp``) and ``garrett-he/vzenith-camera`` (``socket.py``) speak it.
Pure.

Every packet is an 8-byte header, ``'V' 'Z'``, a type (0 JSON text, 1 heartbeat, 2
binary), a sequence number, and the body's length as a big-endian 32-bit number, then
the body. Commands are JSON objects naming ``cmd``; the answer repeats ``cmd`` and
gives ``state_code`` (200 when done). The camera writes GB 2312 text and may end a body
with a NUL.

``ioctl`` with ``value`` 2 pulses an output for ``delay`` milliseconds ("先通后断",
``commandanalysis.cpp`` ``GeneratSetGPIOAutoCmd``): how the lane opens the barrier on
the camera's IO without waiting for a car to push.

``get_gpio_value`` reads an input (``{"cmd": "get_gpio_value", "gpio": N}``,
``commandanalysis.cpp`` ``GeneratGetGPIOValueCmd``); the answer's ``value`` is the
level (``ParseGPIOResponse`` reads ``gpio`` and ``value``), 0 for a contact closed
("短路") and 1 for one open ("开路"), and the camera has inputs 0 and 1 ("数据为0或1"):
``vzlprtcpsdk.h`` ``VzLPRTcp_GetGPIOValue``. A limit switch wired to one says where the
arm is. Whether the answer carries ``state_code`` the SDK does not show (it reads only
``value``); one that does and is not 200 is no reading.

The SDK writes a heartbeat every 2 s and drops a link whose heartbeats it has not heard
for three of them (``session.h`` ``DEFAULT_HEADBEAT_TIMEOUT``, ``session.cpp``
``AsyncWaitNextHeadrtbeatEvent``); a link the lane holds open beats the same.
"""

from __future__ import annotations

import json
import struct
from dataclasses import dataclass
from typing import Any

HEADER = struct.Struct("!2sBBI")
JSON, HEARTBEAT, BINARY = 0, 1, 2
HEARTBEAT_S = 2.0
INPUTS = (0, 1)
MAX_BODY = 1024 * 1024  # an answer to a command is a few hundred bytes; a picture less than this


class BadFrame(ValueError):
    """Bytes that are not this protocol's, or larger than any answer."""


@dataclass(frozen=True, slots=True)
class Header:
    kind: int
    sequence: int
    length: int


def frame(kind: int, body: bytes = b"", sequence: int = 0) -> bytes:
    return HEADER.pack(b"VZ", kind, sequence, len(body)) + body


def command(fields: dict[str, Any]) -> bytes:
    return frame(JSON, json.dumps(fields, ensure_ascii=True).encode("ascii"))


def pulse(output: int, milliseconds: int) -> bytes:
    """``ioctl``: close output ``output`` for ``milliseconds``, then open it."""
    return command({"cmd": "ioctl", "io": output, "value": 2, "delay": milliseconds})


def read_input(gpio: int) -> bytes:
    """``get_gpio_value``: the level on input ``gpio``."""
    return command({"cmd": "get_gpio_value", "gpio": gpio})


def input_level(answer: dict[str, Any], gpio: int) -> int:
    """The level (0 closed, 1 open) in the answer to ``read_input(gpio)``; ``BadFrame``
    for an answer that gives none."""
    code = answer.get("state_code", 200)
    if code != 200:
        raise BadFrame(f"get_gpio_value answered state_code {code!r}")
    if answer.get("gpio", gpio) != gpio:
        raise BadFrame(f"get_gpio_value answered for input {answer.get('gpio')!r}, not {gpio}")
    value = answer.get("value")
    if isinstance(value, bool) or value not in (0, 1):
        raise BadFrame(f"get_gpio_value answered value {value!r}, not 0 or 1")
    return int(value)


def header(raw: bytes) -> Header:
    if len(raw) != HEADER.size:
        raise BadFrame(f"a header is {HEADER.size} bytes, not {len(raw)}")
    magic, kind, sequence, length = HEADER.unpack(raw)
    if magic != b"VZ":
        raise BadFrame(f"not a VZ packet: {raw[:2]!r}")
    if kind not in (JSON, HEARTBEAT, BINARY):
        raise BadFrame(f"unknown packet type {kind}")
    if length > MAX_BODY:
        raise BadFrame(f"a body of {length} bytes is over {MAX_BODY}")
    return Header(kind, sequence, length)


def answer(body: bytes) -> dict[str, Any]:
    """A JSON packet's object; ``BadFrame`` if it is none."""
    text = body.rstrip(b"\x00\n").decode("gb18030", errors="replace")
    try:
        value = json.loads(text)
    except (ValueError, RecursionError):
        raise BadFrame("a JSON packet that is not JSON") from None
    if not isinstance(value, dict):
        raise BadFrame("a JSON packet that is not an object")
    return value
