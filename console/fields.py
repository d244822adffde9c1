"""Reading the fields of a JSON request body: the HTTP API's side of the text rules the
lane link also keeps (``gates.textrules``), raising ``BadRequest`` naming the field; and
a row's id, in a body or a path, by the one rule every endpoint keeps (``ID_MAX``)."""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import Any, TypeGuard

from gates.plates import PLATE_MAX, PlateCheck, check, normalise
from gates.textrules import TextError, check_text, check_url

from .errors import BadRequest, NotFound

# Every free-text note an agent writes: on an open, a call's outcome, a transfer.
NOTE_MAX = 500
# A query string of the API, in bytes as sent: its values are a few short words.
QUERY_MAX = 1024
# A row's id (a stay's): SQLite's INTEGER is 64-bit, so a larger one names no row, and
# the driver would refuse to bind it (OverflowError, a 500) rather than find nothing.
ID_MAX = 2**63 - 1


def is_row_id(value: object) -> TypeGuard[int]:
    """Whether ``value`` can name a row: a whole number from 1 to ``ID_MAX``. JSON's
    ``true`` and ``1.0`` are not one (Python would take both as 1)."""
    return type(value) is int and 1 <= value <= ID_MAX


def id_field(fields: dict[str, Any], name: str, *, code: str) -> int | None:
    """The optional row id ``fields[name]``, None when missing or null; anything but a
    whole number from 1 to ``ID_MAX`` is a 400 ``code`` (``invalid_stay_id``)."""
    value = fields.get(name)
    if value is None:
        return None
    if not is_row_id(value):
        raise BadRequest(code, f"{name!r} must be an id, a whole number from 1 to {ID_MAX}")
    return value


def id_param(params: Mapping[str, Any], name: str, *, code: str, what: str) -> int:
    """The row id in the path (``{stay_id:int}``, which takes only digits): one no row
    can have is a 404 ``code`` (``unknown_stay``), as an id no row has."""
    value = params[name]
    if not is_row_id(value):
        raise NotFound(code, f"no {what} with that id")
    return value


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


def url_field(fields: dict[str, Any], name: str, *, max_len: int) -> str | None:
    """The optional URL ``fields[name]``: an absolute ``http://`` or ``https://`` URL of
    at most ``max_len`` characters of text (``gates.textrules.check_url``), or None when
    missing or null, as every optional field here."""
    if fields.get(name) is None:
        return None
    try:
        return check_url(text_field(fields, name, max_len=max_len), max_len=max_len)
    except TextError as exc:
        raise BadRequest("bad_request", f"{name!r} {exc}") from None


def note_field(fields: dict[str, Any], name: str = "note") -> str:
    """An agent's note: optional, several lines, at most ``NOTE_MAX`` characters
    (``note_too_long`` beyond), with surrounding blanks stripped."""
    return text_field(
        fields, name, max_len=NOTE_MAX, multiline=True, default="", code="note_too_long"
    ).strip()


def plate_field(fields: dict[str, Any], name: str = "plate", *, required: bool = True) -> str:
    """A plate an agent typed, normalised (``gates.plates.normalise``) and one the car
    park accepts; optional ones may be empty. A plate that breaks the format is
    ``invalid_plate``, naming what is wrong and where (``reason``, ``position`` in the
    normalised plate, also given as ``plate``), so the console can point at it."""
    plate = normalise(text_field(fields, name, max_len=PLATE_MAX, default=None if required else ""))
    if not plate and not required:
        return plate
    verdict = check(plate)
    if not verdict.valid:
        raise BadRequest(
            "invalid_plate",
            f"{name!r} {plate_fault(plate, verdict)}",
            plate=plate,
            reason=verdict.error.value if verdict.error else None,
            position=verdict.position,
        )
    return plate


def plate_fault(plate: str, verdict: PlateCheck) -> str:
    """What is wrong with an invalid ``plate``, in words a person can act on."""
    if verdict.position is None:
        return f"is not a plate: no plate the car park accepts has {len(plate)} characters"
    wrong = plate[verdict.position]
    where = verdict.position + 1
    return f"is not a plate: character {where} ({wrong!r}) is wrong ({verdict.error})"


def query_fields(
    params: Sequence[tuple[str, str]], length: int, known: Collection[str]
) -> dict[str, str]:
    """A request's query parameters by name; ``length`` is the raw query string's, in
    bytes. Too long a query (``query_too_long``), a parameter not ``known``, or one given
    twice is refused, rather than a typo ignored or one of two values picked."""
    if length > QUERY_MAX:
        raise BadRequest("query_too_long", f"the query string is limited to {QUERY_MAX} bytes")
    values: dict[str, str] = {}
    for name, value in params:
        if name not in known:
            raise BadRequest("bad_request", f"unknown parameter {name!r}")
        if name in values:
            raise BadRequest("bad_request", f"{name!r} is given more than once")
        values[name] = value
    return values
