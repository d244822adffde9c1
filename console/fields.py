"""Reading the fields of a JSON request body: the HTTP API's side of the text rules the
lane link also keeps (``gates.textrules``), raising ``BadRequest`` naming the field."""

from __future__ import annotations

from typing import Any

from gates.textrules import TextError, check_text

from .errors import BadRequest

# Every free-text note an agent writes: on an open, a call's outcome, a transfer.
NOTE_MAX = 500


def json_object(body: object) -> dict[str, Any]:
    if not isinstance(body, dict):
        raise BadRequest("bad_request", "the body must be a JSON object")
    return body


def text_field(
    fields: dict[str, Any],
    name: str,
    *,
    max_len: int,
    multiline: bool = False,
    default: str | None = None,
    code: str = "bad_request",
) -> str:
    """The string ``fields[name]``: at most ``max_len`` characters of text with no
    control characters (``multiline`` allows line feed and tab). Missing or null gives
    ``default``, or a 400 when there is none. ``code`` names a too-long value's error."""
    value = fields.get(name)
    if value is None:
        if default is None:
            raise BadRequest("bad_request", f"{name!r} is required")
        return default
    if not isinstance(value, str):
        raise BadRequest("bad_request", f"{name!r} must be a string")
    if len(value) > max_len:
        raise BadRequest(code, f"{name!r} is limited to {max_len} characters")
    try:
        return check_text(value, max_len=max_len, multiline=multiline)
    except TextError as exc:
        raise BadRequest("bad_request", f"{name!r} {exc}") from None


def note_field(fields: dict[str, Any], name: str = "note") -> str:
    """An agent's note: optional, several lines, at most ``NOTE_MAX`` characters
    (``note_too_long`` beyond), with surrounding blanks stripped."""
    return text_field(
        fields, name, max_len=NOTE_MAX, multiline=True, default="", code="note_too_long"
    ).strip()
