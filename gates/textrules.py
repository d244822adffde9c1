"""What text the centre accepts, from a lane or a browser, and how it is shown in logs.

JSON allows text that Unicode forbids: ``"\\ud800"`` is valid JSON and decodes to a lone
UTF-16 surrogate, which no UTF-8 encoder will write. Taken in, one such string breaks
every later attempt to encode whatever holds it: the lane list, the console stream, the
ledger. So every JSON document from outside goes through :func:`loads`, and every text
field through :func:`check_text`, here and nowhere else, on the lane link and in the HTTP
API alike. Pure; no I/O.
"""

from __future__ import annotations

import json
import re
import unicodedata
from typing import Any
from urllib.parse import urlsplit

# A lone surrogate arrives either as a JSON escape (\uD800-\uDFFF) or, from a caller
# that built the string itself, as the code point. Valid pairs also match; the walk
# below then finds nothing, since the decoder joins a pair into one character.
_SURROGATE_HINT = re.compile(r"\\u[dD][89abcdefABCDEF]|[\ud800-\udfff]")
_SURROGATE = re.compile(r"[\ud800-\udfff]")
# C0 and C1 controls and DEL (Unicode category Cc), and the two Unicode line breaks:
# a newline in a plate or a username forges a line in a log or a report.
_CONTROL = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
_CONTROL_BUT_LINES = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u2028\u2029]")
# Bidirectional embeddings, overrides and isolates: "\u202e54321A粤" shows as a plate
# it is not, and a note or a name can hide what it says in the console, a CSV export or
# the ledger (CVE-2021-42574, "Trojan Source"). Text in any script shows right without
# them, by the Unicode bidirectional algorithm's own rules.
_BIDI = re.compile(r"[\u202a-\u202e\u2066-\u2069]")
_LOG_UNSAFE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029\ud800-\udfff]")
# Lane ids, event ids, command ids, stream ids: what the lane link calls an ``ident``.
IDENT = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.:-]{0,63}")
_DIGITS = re.compile(r"[0-9]{1,18}")


class TextError(ValueError):
    """Text that breaks a rule; the message says which, for the caller's error reply."""


def loads(raw: str | bytes) -> Any:
    """Parse a JSON document from outside, refusing what RFC 8259 parsers may disagree
    on or what cannot be written back out: invalid UTF-8, lone surrogates, ``NaN`` and
    ``Infinity`` (Python's extensions), duplicate member names (RFC 7493, I-JSON), and
    nesting too deep to walk. Raises ``TextError``."""
    if isinstance(raw, bytes):
        try:
            # json.loads would decode bytes with "surrogatepass", letting encoded
            # surrogates through; strict UTF-8 first.
            raw = raw.decode("utf-8")
        except UnicodeDecodeError:
            raise TextError("not UTF-8 text") from None
    try:
        value = json.loads(raw, object_pairs_hook=_unique_members, parse_constant=_no_constant)
    except RecursionError:
        raise TextError("JSON nested too deeply") from None
    except TextError:
        raise
    except ValueError as exc:
        raise TextError(f"not JSON: {exc}") from None
    if _SURROGATE_HINT.search(raw):
        try:
            _refuse_surrogates(value)
        except RecursionError:
            raise TextError("JSON nested too deeply") from None
    return value


def load_object(raw: str | bytes) -> dict[str, Any]:
    """:func:`loads` of a document that must be one JSON object, as every message is."""
    value = loads(raw)
    if not isinstance(value, dict):
        raise TextError("a message must be a JSON object")
    return value


def _unique_members(pairs: list[tuple[str, Any]]) -> dict[str, Any]:
    members = dict(pairs)
    if len(members) != len(pairs):
        seen: set[str] = set()
        for key, _ in pairs:
            if key in seen:
                raise TextError(f"duplicate member {escape_controls(key)[:64]!r}")
            seen.add(key)
    return members


def _no_constant(name: str) -> Any:
    raise TextError(f"{name} is not JSON")


def _refuse_surrogates(value: Any) -> None:
    if isinstance(value, str):
        if _SURROGATE.search(value):
            raise TextError("text holds a lone UTF-16 surrogate, which is not Unicode text")
    elif isinstance(value, dict):
        for key, item in value.items():
            _refuse_surrogates(key)
            _refuse_surrogates(item)
    elif isinstance(value, list):
        for item in value:
            _refuse_surrogates(item)


def check_text(value: str, *, max_len: int, multiline: bool = False) -> str:
    """``value`` if it is at most ``max_len`` characters of encodable text without
    control characters (``multiline`` allows line feed and tab) or bidirectional
    controls; raises ``TextError``."""
    if len(value) > max_len:
        raise TextError(f"longer than {max_len} characters")
    if _SURROGATE.search(value):
        raise TextError("holds a lone UTF-16 surrogate, which is not Unicode text")
    found = (_CONTROL_BUT_LINES if multiline else _CONTROL).search(value)
    if found:
        raise TextError(f"holds the control character U+{ord(found.group()):04X}")
    found = _BIDI.search(value)
    if found:
        raise TextError(
            f"holds the bidirectional control U+{ord(found.group()):04X},"
            " which makes text show other than it reads"
        )
    return value


def one_line(text: str, limit: int) -> str:
    """``text`` as the lane link takes a lane's own words: one line of printable text
    (no controls, surrogates or bidirectional controls), within ``limit``, so a verbose
    device cannot make a lane's message one the centre refuses."""
    flat = " ".join("".join(ch if ch.isprintable() else " " for ch in text).split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def check_url(value: str, *, max_len: int) -> str:
    """``value`` if it is text by :func:`check_text` and an absolute ``http://`` or
    ``https://`` URL naming a host, without spaces; raises ``TextError``. Only those two
    schemes: a phone that scans ``javascript:`` or ``file:`` from a lane's display must
    not be made to run or open it, and a space ends a URL for most scanners."""
    check_text(value, max_len=max_len)
    if any(char.isspace() for char in value):
        raise TextError("is not a URL: it holds a space")
    try:
        parts = urlsplit(value)
        host, _ = parts.hostname, parts.port  # the port raises when out of range
    except ValueError as exc:
        raise TextError(f"is not a URL: {exc}") from None
    if parts.scheme not in ("http", "https") or not value.lower().startswith(parts.scheme + "://"):
        raise TextError("is not an http:// or https:// URL")
    if not host:
        raise TextError("is not a URL: it names no host")
    return value


# WeChat Pay's Native payment link (its ``code_url``): the one non-web scheme a display's
# QR code may hold, because only the WeChat app that scans it can pay it, and it opens
# nothing but WeChat's own payment sheet.
WECHAT_PAY_LINK = re.compile(r"weixin://wxpay/bizpayurl\?pr=[0-9A-Za-z_-]{1,64}")


def check_pay_link(value: str, *, max_len: int) -> str:
    """``value`` if it is what a lane's display may show as a payment QR code: an
    ``http(s)`` URL by :func:`check_url`, or WeChat Pay's Native ``weixin://wxpay/
    bizpayurl?pr=…`` link; raises ``TextError``."""
    if WECHAT_PAY_LINK.fullmatch(value) and len(value) <= max_len:
        return value
    return check_url(value, max_len=max_len)


def visible(value: str) -> bool:
    """Whether ``value`` shows anything: not only spaces, zero-width or format
    characters (a note of one U+200B says nothing)."""
    return any(unicodedata.category(char)[0] not in "ZC" for char in value)


def is_ident(value: str) -> bool:
    return IDENT.fullmatch(value) is not None


def parse_count(raw: str) -> int | None:
    """A non-negative decimal integer written in ASCII digits, or None. ``str.isdigit``
    is not this: it accepts "²" and other digits ``int`` refuses."""
    return int(raw) if _DIGITS.fullmatch(raw) else None


def escape_controls(text: str) -> str:
    """``text`` with every control character, line break and lone surrogate written as
    an escape, so untrusted text logged inside a line cannot start a new one."""
    return _LOG_UNSAFE.sub(_escape, text)


def _escape(match: re.Match[str]) -> str:
    code = ord(match.group())
    return f"\\x{code:02x}" if code < 0x100 else f"\\u{code:04x}"
