"""What one server of a centre says to the others on a Redis channel: one JSON object,
``{"v": VERSION, "from": <server>, "kind": <what it is>, ...}``.

Redis is trusted (only the centre's servers and its CLI reach it), but during an
upgrade servers of two versions share it, and a server must not act on what it
cannot read: a message of another version, or one that does not parse, is refused with
``EnvelopeError``, which its listener logs and drops. Pure: no I/O.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

VERSION = 1
# Far above anything a server sends (an order with its notifications is a few KB).
MAX_BYTES = 256 * 1024


class EnvelopeError(ValueError):
    """A message this server cannot read; ``str`` says why, for the log."""


@dataclass(frozen=True, slots=True)
class Envelope:
    sender: str
    kind: str
    body: dict[str, Any]

    def text(self, name: str, *, empty: bool = False) -> str:
        value = self.body.get(name)
        if not isinstance(value, str) or (not value and not empty):
            raise EnvelopeError(f"{self.kind}: {name!r} is not a string")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self.body.get(name)
        if value is not None and not isinstance(value, str):
            raise EnvelopeError(f"{self.kind}: {name!r} is neither a string nor null")
        return value

    def obj(self, name: str) -> dict[str, Any]:
        value = self.body.get(name)
        if not isinstance(value, dict):
            raise EnvelopeError(f"{self.kind}: {name!r} is not an object")
        return value


def seal(sender: str, kind: str, body: dict[str, Any]) -> bytes:
    return json.dumps(
        {**body, "v": VERSION, "from": sender, "kind": kind},
        ensure_ascii=False,
        separators=(",", ":"),
    ).encode()


def open_envelope(data: bytes, kinds: frozenset[str]) -> Envelope:
    """The message in ``data`` if it is of this version and one of ``kinds``."""
    if len(data) > MAX_BYTES:
        raise EnvelopeError(f"{len(data)} bytes, more than {MAX_BYTES}")
    try:
        value = json.loads(data)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise EnvelopeError(f"not JSON: {exc}") from None
    if not isinstance(value, dict):
        raise EnvelopeError("not a JSON object")
    version = value.pop("v", None)
    if version != VERSION:
        raise EnvelopeError(f"version {version!r}, not {VERSION}")
    sender, kind = value.pop("from", None), value.pop("kind", None)
    if not isinstance(sender, str) or not sender:
        raise EnvelopeError("no sender")
    if not isinstance(kind, str) or kind not in kinds:
        raise EnvelopeError(f"kind {kind!r} is none of {sorted(kinds)}")
    return Envelope(sender, kind, value)
