"""Every message one server of a centre sends the others, on any channel or in a Redis
hash: one JSON object, ``{"v": VERSION, "kind": <what it is>, "from": <server>,
"body": {...}}``, the body's members as its kind's dataclass writes them.

Redis is trusted (only the centre's servers and its CLI reach it), but during an
upgrade servers of two versions share it, and a server must not act on what it cannot
read: a message of another version (newer ones included: never misread as this one's),
of a kind the receiver does not take, or that does not parse is refused with
``EnvelopeError``, which the receiver logs as an event and drops, changing nothing.
The text rules are the lane link's (``gates.textrules.load_object``: UTF-8, no lone
surrogates, no ``NaN``, no duplicate members), and no NUL anywhere: PostgreSQL cannot
store it and a log cannot show it. Pure: no I/O.
"""

from __future__ import annotations

import enum
import json
import math
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, ClassVar, Generic, Protocol, Self, TypeVar

from gates.protocol import MAX_MESSAGE_BYTES
from gates.textrules import TextError, check_text, is_ident, load_object

VERSION = 1
# The largest body is a lane's snapshot passed on to another server, which the lane
# sent in one message of at most MAX_MESSAGE_BYTES; the framing adds a few hundred bytes.
MAX_BYTES = MAX_MESSAGE_BYTES + 64 * 1024
# Server ids are ``host-pid-random`` or a ``seat`` CLI's; a host name is at most 253.
MAX_SENDER = 320
# No message nests deeper than a call step's effects (five levels).
MAX_DEPTH = 16


class EnvelopeError(ValueError):
    """A message this server cannot read; ``str`` says why, for the log."""


class Body(Protocol):
    """A kind's body: ``KIND`` names it on the wire; ``from_fields`` reads what
    ``to_json`` wrote, raising ``EnvelopeError`` (through ``Fields``) for anything else."""

    KIND: ClassVar[str]

    def to_json(self) -> dict[str, Any]: ...

    @classmethod
    def from_fields(cls, fields: Fields) -> Self: ...


B = TypeVar("B", bound=Body)
E = TypeVar("E", bound=enum.Enum)


@dataclass(frozen=True, slots=True)
class Envelope(Generic[B]):
    sender: str
    body: B


def seal(sender: str, body: Body) -> bytes:
    """``body`` from ``sender``; raises ``EnvelopeError`` when no server would read it:
    larger than any reads, or holding a number JSON cannot write."""
    try:
        data = json.dumps(
            {"v": VERSION, "kind": body.KIND, "from": sender, "body": body.to_json()},
            ensure_ascii=False,
            separators=(",", ":"),
            allow_nan=False,
        ).encode()
    except ValueError as exc:  # NaN or infinity, which JSON has no words for
        raise EnvelopeError(f"{body.KIND}: {exc}") from None
    if len(data) > MAX_BYTES:
        raise EnvelopeError(f"{body.KIND}: {len(data)} bytes, more than {MAX_BYTES}")
    return data


def open_envelope(data: bytes | str, *kinds: type[Body]) -> Envelope[Body]:
    """The message in ``data`` if it is of this version and one of ``kinds`` (what the
    channel it came on carries)."""
    raw = data.encode() if isinstance(data, str) else data
    if len(raw) > MAX_BYTES:
        raise EnvelopeError(f"{len(raw)} bytes, more than {MAX_BYTES}")
    try:
        value = load_object(raw)
    except TextError as exc:
        raise EnvelopeError(str(exc)) from None
    _refuse_nul(value)
    version = value.get("v")
    if version != VERSION:
        if isinstance(version, int) and not isinstance(version, bool) and version > VERSION:
            raise EnvelopeError(f"version {version} is newer than this server's {VERSION}")
        raise EnvelopeError(f"version {_shown(version)}, not {VERSION}")
    if set(value) != {"v", "kind", "from", "body"}:
        raise EnvelopeError(f"members {_shown(sorted(value))}, not v, kind, from and body")
    sender, kind, body = value["from"], value["kind"], value["body"]
    if not isinstance(sender, str) or not sender:
        raise EnvelopeError("no sender")
    try:
        check_text(sender, max_len=MAX_SENDER)
    except TextError as exc:
        raise EnvelopeError(f"the sender {exc}") from None
    taken = {each.KIND: each for each in kinds}
    if not isinstance(kind, str) or kind not in taken:
        raise EnvelopeError(f"kind {_shown(kind)} is none of {sorted(taken)}")
    if not isinstance(body, dict):
        raise EnvelopeError(f"{kind}: the body is not an object")
    return Envelope(sender, taken[kind].from_fields(Fields(kind, body)))


def open_as(data: bytes | str, kind: type[B]) -> Envelope[B]:
    """``open_envelope`` for a channel or key that carries one kind alone."""
    envelope = open_envelope(data, kind)
    assert isinstance(envelope.body, kind)
    return Envelope(envelope.sender, envelope.body)


class Fields:
    """A body's members as sent, read by type: each reader raises ``EnvelopeError``
    naming the kind and the member, so the log says what was wrong."""

    def __init__(self, where: str, members: Mapping[str, Any]) -> None:
        self.where = where
        self.members = members

    def _get(self, name: str) -> Any:
        if name not in self.members:
            raise EnvelopeError(f"{self.where}: no {name!r}")
        return self.members[name]

    def _wrong(self, name: str, what: str) -> EnvelopeError:
        return EnvelopeError(f"{self.where}: {name!r} is not {what}")

    def text(self, name: str, *, empty: bool = False) -> str:
        value = self._get(name)
        if not isinstance(value, str) or (not value and not empty):
            raise self._wrong(name, "a string" if empty else "a non-empty string")
        return value

    def optional_text(self, name: str) -> str | None:
        value = self._get(name)
        if value is not None and not isinstance(value, str):
            raise self._wrong(name, "a string or null")
        return value

    def ident(self, name: str) -> str:
        """An id as the lane link allows one (a lane's, a command's)."""
        value = self._get(name)
        if not isinstance(value, str) or not is_ident(value):
            raise self._wrong(name, "an id (1-64 of A-Z a-z 0-9 _ . : - )")
        return value

    def integer(self, name: str) -> int:
        value = self._get(name)
        if type(value) is not int:
            raise self._wrong(name, "an integer")
        return value

    def optional_integer(self, name: str) -> int | None:
        value = self._get(name)
        if value is not None and type(value) is not int:
            raise self._wrong(name, "an integer or null")
        return value

    def number(self, name: str) -> float:
        value = self._get(name)
        try:
            if type(value) in (int, float) and math.isfinite(value):
                return float(value)
        except OverflowError:  # an integer of hundreds of digits
            pass
        raise self._wrong(name, "a finite number")

    def flag(self, name: str) -> bool:
        value = self._get(name)
        if not isinstance(value, bool):
            raise self._wrong(name, "true or false")
        return value

    def choice(self, name: str, kind: type[E]) -> E:
        value = self._get(name)
        try:
            return kind(value)
        except ValueError:
            raise self._wrong(name, f"one of {[member.value for member in kind]}") from None

    def time(self, name: str) -> datetime:
        value = self.text(name)
        try:
            at = datetime.fromisoformat(value)
        except ValueError:
            raise self._wrong(name, "an ISO 8601 time") from None
        if at.tzinfo is None:
            raise self._wrong(name, "a time with its UTC offset")
        try:
            return at.astimezone(UTC)
        except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last UTC time
            raise self._wrong(name, "a time within the years 1-9999 in UTC") from None

    def optional_time(self, name: str) -> datetime | None:
        return None if self._get(name) is None else self.time(name)

    def obj(self, name: str) -> dict[str, Any]:
        value = self._get(name)
        if not isinstance(value, dict):
            raise self._wrong(name, "an object")
        return value

    def optional_obj(self, name: str) -> dict[str, Any] | None:
        return None if self._get(name) is None else self.obj(name)

    def items(self, name: str) -> list[Any]:
        value = self._get(name)
        if not isinstance(value, list):
            raise self._wrong(name, "a list")
        return value

    def nested(self, name: str) -> Fields:
        """The object ``name`` holds, read the same way."""
        return Fields(f"{self.where}.{name}", self.obj(name))

    def each(self, name: str) -> list[Fields]:
        """The objects the list ``name`` holds, each read the same way."""
        found: list[Fields] = []
        for index, item in enumerate(self.items(name)):
            if not isinstance(item, dict):
                raise EnvelopeError(f"{self.where}: {name}[{index}] is not an object")
            found.append(Fields(f"{self.where}.{name}[{index}]", item))
        return found


def _refuse_nul(value: Any) -> None:
    """No text, member name or value, holds NUL; nothing nests deeper than MAX_DEPTH."""
    stack: list[tuple[Any, int]] = [(value, 0)]
    while stack:
        item, depth = stack.pop()
        if depth > MAX_DEPTH:
            raise EnvelopeError(f"nested deeper than {MAX_DEPTH}")
        if isinstance(item, str):
            if "\x00" in item:
                raise EnvelopeError("text holds NUL (U+0000)")
        elif isinstance(item, dict):
            stack.extend((key, depth) for key in item)
            stack.extend((member, depth + 1) for member in item.values())
        elif isinstance(item, list):
            stack.extend((member, depth + 1) for member in item)


def _shown(value: object) -> str:
    """A value from the message, for the log: quoted, escaped and cut short."""
    return repr(value)[:80]
