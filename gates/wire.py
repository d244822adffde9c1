"""The building blocks of every message on the lane's connections: typed field readers
that raise ``Malformed`` naming the broken rule, the ``Message`` base, and the decoder
shared by the lane link and the media connection. Pure; no sockets."""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any, ClassVar, TypeVar, overload

from .errors import Malformed, TooLarge, UnknownType
from .textrules import TextError, check_text, escape_controls, is_ident, load_object

Fields = Mapping[str, Any]


def field(fields: Fields, name: str, kind: type, *, default: Any = ...) -> Any:
    if name not in fields:
        if default is ...:
            raise Malformed(f"missing field {name!r}")
        return default
    value = fields[name]
    # bool is an int in Python, never a valid int or float on the wire.
    if not isinstance(value, kind) or (kind in (int, float) and isinstance(value, bool)):
        if kind is float and isinstance(value, int) and not isinstance(value, bool):
            try:
                return float(value)
            except OverflowError:
                raise Malformed(f"field {name!r} is out of range") from None
        raise Malformed(f"field {name!r} must be {kind.__name__}")
    return value


def text(fields: Fields, name: str, *, max_len: int, default: Any = ...) -> Any:
    """A one-line text field: no control characters, nothing that is not Unicode."""
    value = field(fields, name, str, default=default)
    if isinstance(value, str):
        try:
            check_text(value, max_len=max_len)
        except TextError as exc:
            raise Malformed(f"field {name!r} {exc}") from None
    return value


@overload
def ident(fields: Fields, name: str) -> str: ...
@overload
def ident(fields: Fields, name: str, *, default: None) -> str | None: ...
def ident(fields: Fields, name: str, *, default: Any = ...) -> Any:
    """An id field; with ``default``, one a message may leave out (but not send as null
    or as anything but a valid id)."""
    value = field(fields, name, str, default=default)
    if value is not default and not is_ident(value):
        raise Malformed(f"field {name!r} must be 1-64 of A-Z a-z 0-9 _ . : - starting alphanumeric")
    return value


def choice(fields: Fields, name: str, kind: type[Any]) -> Any:
    value = field(fields, name, str)
    try:
        return kind(value)
    except ValueError:
        allowed = ", ".join(m.value for m in kind)
        raise Malformed(f"field {name!r} must be one of {allowed}") from None


def timestamp(fields: Fields, name: str) -> datetime:
    value: str = field(fields, name, str)
    try:
        at = datetime.fromisoformat(value)
    except ValueError:
        raise Malformed(f"field {name!r} must be an ISO 8601 time") from None
    if at.tzinfo is None:
        raise Malformed(f"field {name!r} must carry a UTC offset")
    try:
        return at.astimezone(UTC)
    except OverflowError:  # 9999-12-31T23:59:59-14:00 is past the last UTC datetime
        raise Malformed(f"field {name!r} is outside the years 1-9999 in UTC") from None


def format_time(at: datetime) -> str:
    return at.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


M = TypeVar("M", bound="Message")


class Message:
    """Base of every lane-link message; ``TYPE`` is the wire ``type``."""

    TYPE: ClassVar[str]

    def fields(self) -> dict[str, Any]:
        return {}

    @classmethod
    def from_fields(cls: type[M], fields: Fields) -> M:
        return cls()

    def encode(self) -> str:
        return json.dumps(
            {"type": self.TYPE, **self.fields()}, ensure_ascii=False, separators=(",", ":")
        )


def decode(raw: str | bytes, limit: int, types: Mapping[str, Callable[[Fields], Any]]) -> Any:
    size = len(raw) if isinstance(raw, bytes) else len(raw.encode("utf-8"))
    if size > limit:
        raise TooLarge(f"message of {size} bytes exceeds {limit}")
    if isinstance(raw, bytes):
        raise Malformed("binary frames are not part of the lane link; send JSON text")
    try:
        fields = load_object(raw)
    except TextError as exc:
        raise Malformed(str(exc)) from None
    kind = fields.get("type")
    if not isinstance(kind, str):
        raise Malformed("missing field 'type'")
    try:
        from_fields = types[kind]
    except KeyError:
        raise UnknownType(f"unknown message type {escape_controls(kind)[:64]!r}") from None
    return from_fields(fields)
