"""RFC 8785 canonical JSON (JCS): the one byte form of every value the ledger hashes or
signs, so an auditor gets the same bytes in any language. ``ledger.py`` spells out the
rules as they apply to audit entries."""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable, Mapping
from decimal import Decimal
from typing import Any

# Up to here every integer is exactly a double, and ECMAScript writes it as plain digits.
MAX_SAFE_INT = 2**53 - 1


def canonical_json(value: object) -> str:
    """RFC 8785 text of ``value``; raises ``ValueError`` for anything the ledger cannot
    hash the same way in every language (``ledger.py`` lists what is allowed)."""
    parts: list[str] = []
    _encode(value, parts, "$")
    text = "".join(parts)
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text is not valid Unicode (lone surrogate): {exc}") from None
    return text


def _encode(value: object, out: list[str], path: str) -> None:
    if value is None:
        out.append("null")
    elif value is True:
        out.append("true")
    elif value is False:
        out.append("false")
    elif isinstance(value, str):
        out.append(quote(value))
    elif isinstance(value, int):
        if abs(value) <= MAX_SAFE_INT:
            out.append(str(value))
        else:
            # JSON numbers are doubles to most parsers (RFC 7493 §2.2): keep only integers
            # a double holds exactly, written as ECMAScript writes that double.
            try:
                exact = float(value) == value
            except OverflowError:
                exact = False
            if not exact:
                raise ValueError(f"{path}: integer {value} is not exactly a double")
            out.append(_es_number(float(value), path))
    elif isinstance(value, float):
        out.append(_es_number(value, path))
    elif isinstance(value, Mapping):
        keys = list(value)
        for key in keys:
            if not isinstance(key, str):
                raise ValueError(f"{path}: object key {key!r} is not a string")
        if all(key.isascii() for key in keys):
            keys.sort()
        else:
            keys.sort(key=_utf16)
        out.append("{")
        for i, key in enumerate(keys):
            if i:
                out.append(",")
            out.append(quote(key))
            out.append(":")
            _encode(value[key], out, f"{path}.{key}")
        out.append("}")
    elif isinstance(value, list | tuple):
        out.append("[")
        for i, item in enumerate(value):
            if i:
                out.append(",")
            _encode(item, out, f"{path}[{i}]")
        out.append("]")
    else:
        raise ValueError(f"{path}: {type(value).__name__} is not JSON")


# With ensure_ascii off, json escapes exactly what RFC 8785 §3.2.2.2 does: '"', '\\' and
# the code points below U+0020 (the five short forms, else \u00xx in lower case).
quote: Callable[[str], str] = json.encoder.encode_basestring


def _utf16(key: str) -> bytes:
    """RFC 8785 sorts keys by UTF-16 code units; big-endian bytes compare the same way."""
    return key.encode("utf-16-be")


def parse_canonical(text: str) -> Any:
    """Reads canonical JSON back so that re-encoding gives the same text: an integer too
    large to be exact in plain digits came from a double, and becomes that double."""
    return json.loads(text, parse_int=_parse_int)


def _parse_int(digits: str) -> int | float:
    value = int(digits)
    return value if abs(value) <= MAX_SAFE_INT else float(value)


def _es_number(x: float, path: str) -> str:
    """ECMAScript Number::toString (ECMA-262 §6.1.6.1.20), which RFC 8785 mandates."""
    if not math.isfinite(x):
        raise ValueError(f"{path}: {x} is not a finite number")
    if x == 0:
        return "0"
    sign = "-" if x < 0 else ""
    # repr gives the shortest digits that round-trip, as ECMAScript requires.
    _, digit_tuple, exponent = Decimal(repr(abs(x))).as_tuple()
    assert isinstance(exponent, int)
    digits = "".join(map(str, digit_tuple)).rstrip("0")
    exponent += len(digit_tuple) - len(digits)
    k = len(digits)
    n = exponent + k  # the value is 0.<digits> × 10**n
    if k <= n <= 21:
        return sign + digits + "0" * (n - k)
    if 0 < n <= 21:
        return sign + digits[:n] + "." + digits[n:]
    if -6 < n <= 0:
        return sign + "0." + "0" * -n + digits
    e = n - 1
    mantissa = digits if k == 1 else digits[0] + "." + digits[1:]
    return f"{sign}{mantissa}e{'+' if e > 0 else '-'}{abs(e)}"
