"""The audit ledger: records, the hash chain that makes them tamper-evident, and its check.

Pure code: no clock, no database. A store assigns ``seq`` and ``at`` and calls
:func:`seal`; :func:`verify` walks any sequence of entries.

How an entry is hashed
======================

An auditor can re-verify a ledger in any language with these rules alone.

1. Entries are numbered ``seq`` = 1, 2, 3, … without gaps. Entry 1 has
   ``prev_hash`` = 64 × ``"0"``; every later entry has ``prev_hash`` = the ``hash`` of
   the entry before it.
2. The hashed object is the entry's JSON form (:meth:`AuditEntry.to_json`, which is
   also what ``GET /api/audit`` returns) without its ``hash`` member. It has exactly
   these ten members:

   ``action``      string, one of :class:`AuditAction`'s values
   ``actor``       string
   ``at``          string ``YYYY-MM-DDTHH:MM:SS.ffffffZ``: UTC, always six fraction digits
   ``command_id``  string or null
   ``detail``      object (see 4)
   ``lane``        string or null
   ``outcome``     string or null
   ``prev_hash``   string, 64 lower-case hex digits
   ``reason``      string or null
   ``seq``         integer

3. ``hash`` = lower-case hex SHA-256 of the UTF-8 bytes of the object's canonical JSON.
   Canonical JSON is RFC 8785 (JSON Canonicalization Scheme), so any JCS library gives
   the same bytes. Spelled out:

   - no whitespace anywhere; ``:`` between key and value, ``,`` between items;
   - object members sorted by key, comparing keys as sequences of UTF-16 code units
     (for the ASCII keys above that is plain byte order); no duplicate keys;
   - strings in double quotes; escaped are only ``"`` → ``\\"``, ``\\`` → ``\\\\``,
     U+0008 → ``\\b``, U+0009 → ``\\t``, U+000A → ``\\n``, U+000C → ``\\f``,
     U+000D → ``\\r`` and the other code points below U+0020 → ``\\u00xx`` (lower-case
     hex); everything else, Chinese included, is written as itself;
   - ``null``, ``true``, ``false``;
   - numbers as ECMAScript writes them (``Number.prototype.toString``): integers as
     plain digits, ``1.5``, ``0.000001``, ``1e-7``, ``1e+21``; ``-0`` as ``0``.

4. ``detail`` may hold objects with string keys, arrays, strings, booleans, null and
   numbers that are finite IEEE-754 doubles (an integer is allowed if a double holds it
   exactly), as RFC 7493 (I-JSON) asks, so every value survives any JSON parser
   unchanged. Anything else is refused when the record is made.

The database keeps ``at`` and ``detail`` in exactly this text form, so a row's columns
are the hashed object's members verbatim.
"""

from __future__ import annotations

import enum
import hashlib
import json
import json.encoder
import math
from collections.abc import AsyncIterator, Callable, Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from decimal import Decimal
from types import MappingProxyType
from typing import Any, Protocol

from .errors import CorruptAuditEntry

GENESIS_HASH = "0" * 64

# Up to here every integer is exactly a double, and ECMAScript writes it as plain digits.
_MAX_SAFE_INT = 2**53 - 1


class AuditAction(enum.StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_ATTACK = "login_attack"
    LOGOUT = "logout"
    USER_ADDED = "user_added"
    USER_CHANGED = "user_changed"
    LANE_ADDED = "lane_added"
    LANE_TOKEN_ROTATED = "lane_token_rotated"
    GATE_OPEN_REQUESTED = "gate_open_requested"
    GATE_OPEN_OUTCOME = "gate_open_outcome"
    DISPLAY_REQUESTED = "display_requested"
    DISPLAY_OUTCOME = "display_outcome"
    CENTRE_STARTED = "centre_started"
    WATCH_STARTED = "watch_started"
    WATCH_ENDED = "watch_ended"
    INTERCOM_STARTED = "intercom_started"
    INTERCOM_ENDED = "intercom_ended"


# ------------------------------------------------------------------ canonical encoding


def canonical_json(value: object) -> str:
    """RFC 8785 text of ``value``; raises ``ValueError`` for anything the ledger cannot
    hash the same way in every language (see the module docstring)."""
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
        out.append(_quote(value))
    elif isinstance(value, int):
        if abs(value) <= _MAX_SAFE_INT:
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
            out.append(_quote(key))
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
_quote: Callable[[str], str] = json.encoder.encode_basestring


def _utf16(key: str) -> bytes:
    """RFC 8785 sorts keys by UTF-16 code units; big-endian bytes compare the same way."""
    return key.encode("utf-16-be")


def parse_canonical(text: str) -> Any:
    """Reads canonical JSON back so that re-encoding gives the same text: an integer too
    large to be exact in plain digits came from a double, and becomes that double."""
    return json.loads(text, parse_int=_parse_int)


def _parse_int(digits: str) -> int | float:
    value = int(digits)
    return value if abs(value) <= _MAX_SAFE_INT else float(value)


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


def format_utc(at: datetime) -> str:
    """The one text form of an instant in the ledger and the store: fixed width, so text
    order is time order and the hashed bytes never depend on how a time was written."""
    return as_utc(at).replace(tzinfo=None).isoformat(timespec="microseconds") + "Z"


def as_utc(at: datetime) -> datetime:
    """``at`` in UTC; a naive time is refused, as its zone would be a guess."""
    if at.tzinfo is None or at.utcoffset() is None:
        raise ValueError(f"{at!r} is a naive datetime; the ledger needs aware UTC times")
    return at.astimezone(UTC)


def parse_utc(text: str) -> datetime:
    """Inverse of :func:`format_utc`; refuses any other spelling of the same instant,
    so a stored time is byte-for-byte what was hashed."""
    at = datetime.fromisoformat(text)
    if at.tzinfo is None or format_utc(at) != text:
        raise ValueError(f"{text!r} is not YYYY-MM-DDTHH:MM:SS.ffffffZ")
    return at.astimezone(UTC)


# ------------------------------------------------------------------ records and entries


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """What a caller asks to be written; the store numbers, times and seals it."""

    actor: str
    action: AuditAction
    lane: str | None = None
    command_id: str | None = None
    reason: str | None = None
    outcome: str | None = None
    # JSON-able context: note, remote address, role, timings. Copied and frozen here, so
    # the caller changing its dict later cannot make the entry disagree with its hash.
    detail: Mapping[str, object] = field(default_factory=dict, hash=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "action", AuditAction(self.action))
        if not isinstance(self.actor, str) or not self.actor:
            raise ValueError("an audit record needs a non-empty actor")
        for name in ("lane", "command_id", "reason", "outcome"):
            value = getattr(self, name)
            if value is not None and not isinstance(value, str):
                raise ValueError(f"{name} must be a string or None, not {type(value).__name__}")
        if not isinstance(self.detail, Mapping):
            raise ValueError("detail must be a JSON object")
        # Refuse what could not be hashed now, not later inside the store's writer.
        canonical_json([self.actor, self.lane, self.command_id, self.reason, self.outcome])
        frozen: dict[str, object] = parse_canonical(canonical_json(self.detail))
        object.__setattr__(self, "detail", MappingProxyType(frozen))


@dataclass(frozen=True, slots=True, kw_only=True)
class AuditEntry:
    """A sealed record: numbered, timed and chained to the one before it."""

    seq: int
    at: datetime
    actor: str
    action: AuditAction
    lane: str | None
    command_id: str | None
    reason: str | None
    outcome: str | None
    detail: Mapping[str, object] = field(hash=False)
    prev_hash: str
    hash: str

    @classmethod
    def build(
        cls, *, seq: int, at: datetime, record: AuditRecord, prev_hash: str, hash: str
    ) -> AuditEntry:
        return cls(
            seq=seq,
            at=as_utc(at),
            actor=record.actor,
            action=record.action,
            lane=record.lane,
            command_id=record.command_id,
            reason=record.reason,
            outcome=record.outcome,
            detail=record.detail,
            prev_hash=prev_hash,
            hash=hash,
        )

    def to_json(self) -> dict[str, Any]:
        body = _hashed_object(self.seq, self.at, self, self.prev_hash)
        # A fresh plain copy: the HTTP layer may change it freely.
        body["detail"] = parse_canonical(canonical_json(self.detail))
        body["hash"] = self.hash
        return body


def _hashed_object(
    seq: int, at: datetime, fields: AuditRecord | AuditEntry, prev_hash: str
) -> dict[str, Any]:
    return {
        "seq": seq,
        "at": format_utc(at),
        "actor": fields.actor,
        "action": str(fields.action),
        "lane": fields.lane,
        "command_id": fields.command_id,
        "reason": fields.reason,
        "outcome": fields.outcome,
        "detail": fields.detail,
        "prev_hash": prev_hash,
    }


def entry_hash(seq: int, at: datetime, fields: AuditRecord | AuditEntry, prev_hash: str) -> str:
    text = canonical_json(_hashed_object(seq, at, fields, prev_hash))
    return hashlib.sha256(text.encode("utf-8")).hexdigest()


def seal(prev: str, seq: int, at: datetime, record: AuditRecord) -> AuditEntry:
    """Chain ``record`` after the entry whose hash is ``prev``."""
    return AuditEntry.build(
        seq=seq, at=at, record=record, prev_hash=prev, hash=entry_hash(seq, at, record, prev)
    )


# ------------------------------------------------------------------ verification


@dataclass(frozen=True, slots=True)
class Verdict:
    """``count`` entries from seq 1 on are intact; if not ``ok``, ``bad_seq`` is the first
    sequence number at which the chain is not, and ``problem`` says how."""

    ok: bool
    count: int
    bad_seq: int | None = None
    problem: str | None = None


class _ChainCheck:
    """Walks entries one at a time, so a store can stream a ledger of any length."""

    def __init__(self) -> None:
        self.count = 0
        self._prev_hash = GENESIS_HASH
        self.verdict: Verdict | None = None

    def feed(self, entry: AuditEntry) -> bool:
        """Checks one more entry; False once a fault is found (and ``verdict`` says it)."""
        if not self._in_sequence(entry.seq):
            return False
        if entry.prev_hash != self._prev_hash:
            return self._fail("broken link to previous entry")
        try:
            recomputed = entry_hash(entry.seq, entry.at, entry, entry.prev_hash)
        except ValueError as exc:
            return self._fail(f"entry cannot be encoded: {exc}")
        if recomputed != entry.hash:
            return self._fail("hash mismatch")
        self.count += 1
        self._prev_hash = entry.hash
        return True

    def unreadable(self, seq: int, problem: str) -> None:
        if self._in_sequence(seq):
            self._fail(f"unreadable entry: {problem}")

    def _in_sequence(self, seq: int) -> bool:
        expected = self.count + 1
        if seq == expected:
            return True
        kind = "gap" if seq > expected else "out of order"
        return self._fail(f"sequence {kind}: expected {expected}, found {seq}")

    def _fail(self, problem: str) -> bool:
        self.verdict = Verdict(ok=False, count=self.count, bad_seq=self.count + 1, problem=problem)
        return False

    def result(self) -> Verdict:
        return self.verdict or Verdict(ok=True, count=self.count)


def verify(entries: Iterable[AuditEntry]) -> Verdict:
    """Checks a whole ledger, oldest first from seq 1; stops at the first fault."""
    check = _ChainCheck()
    for entry in entries:
        if not check.feed(entry):
            break
    return check.result()


class AuditSource(Protocol):
    def iter_audit(self) -> AsyncIterator[AuditEntry]: ...


async def verify_audit(source: AuditSource) -> Verdict:
    """Streams a store's whole ledger through the chain check. A row too damaged to
    decode is a finding about the ledger, not a crash of the check."""
    check = _ChainCheck()
    try:
        async for entry in source.iter_audit():
            if not check.feed(entry):
                break
    except CorruptAuditEntry as exc:
        check.unreadable(exc.seq, exc.problem)
    return check.result()
