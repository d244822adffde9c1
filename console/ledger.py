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
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any, NamedTuple

from .canonical import MAX_SAFE_INT, canonical_json, parse_canonical, quote

GENESIS_HASH = "0" * 64


class AuditAction(enum.StrEnum):
    LOGIN = "login"
    LOGIN_FAILED = "login_failed"
    LOGIN_ATTACK = "login_attack"
    LOGOUT = "logout"
    USER_ADDED = "user_added"
    USER_CHANGED = "user_changed"
    LANE_ADDED = "lane_added"
    LANE_TOKEN_ROTATED = "lane_token_rotated"
    # Every help sticker printed before for the lane stopped working (a new serial).
    STICKER_REVOKED = "sticker_revoked"
    # A lane's help sticker was made as a file (``seat lanes sticker``, or a supervisor's
    # download): the detail names its serial, format and base URL.
    STICKER_ISSUED = "sticker_issued"
    GATE_OPEN_REQUESTED = "gate_open_requested"
    GATE_OPEN_OUTCOME = "gate_open_outcome"
    DISPLAY_REQUESTED = "display_requested"
    DISPLAY_OUTCOME = "display_outcome"
    CENTRE_STARTED = "centre_started"
    WATCH_STARTED = "watch_started"
    WATCH_ENDED = "watch_ended"
    INTERCOM_STARTED = "intercom_started"
    INTERCOM_ENDED = "intercom_ended"
    # The centre was started, on the operator's explicit word, on a ledger that failed
    # its check; the detail says what was wrong.
    LEDGER_FAULT_ACCEPTED = "ledger_fault_accepted"
    # The call queue's steps (console.calls): ``detail.call`` names the call.
    CALL_PLACED = "call_placed"
    CALL_OFFERED = "call_offered"
    CALL_ACCEPTED = "call_accepted"
    CALL_DECLINED = "call_declined"
    CALL_MISSED = "call_missed"
    CALL_RETURNED = "call_returned"
    CALL_TRANSFERRED = "call_transferred"
    CALL_ESCALATED = "call_escalated"
    CALL_BARGED = "call_barged"
    CALL_REQUEUED = "call_requeued"
    CALL_ENDED = "call_ended"
    CALL_HUNG_UP = "call_hung_up"
    CALL_ABANDONED = "call_abandoned"
    CALL_BREACHED = "call_breached"
    # A day's call ledger was read (``GET /api/calls/records``): the detail names the
    # day, the car park, the format, the rows and whether plates went out unmasked.
    CALLS_EXPORTED = "calls_exported"
    # A car park's billing rules were set (``seat parks rules set``): the detail holds
    # the car park and the rules as stored.
    BILLING_RULES_SET = "billing_rules_set"
    # A car park's plate lists were set (``seat parks lists set``): the detail holds the
    # car park, how many of each and the lists as stored.
    PLATE_LISTS_SET = "plate_lists_set"
    # An agent recorded that a stay's car left without paying: the detail names the
    # stay, the plate, the car park, the debt and its amount and the note.
    ESCAPE_RECORDED = "escape_recorded"
    # The centre's own word at a lane (actor ``system``), before it acts: a blacklisted
    # plate held (entry or exit) and a plate that owes debts come in, each also an
    # alert on the consoles; the debts a paid order cleared.
    BLACKLIST_HELD = "blacklist_held"
    DEBTOR_ENTERED = "debtor_entered"
    DEBTS_CLEARED = "debts_cleared"
    # Payments (console.payments): ``detail.order`` names the order. An order issued at
    # a lane, the amount an agent set other than the rules' (both amounts and the
    # reason), an open order replaced by a newer one at its lane, a provider's
    # notification before it is recorded and what recording it did (``outcome``: paid,
    # already_paid, late, replayed), and a notification refused as forged.
    PAYMENT_ORDERED = "payment_ordered"
    PAYMENT_AMOUNT_OVERRIDDEN = "payment_amount_overridden"
    PAYMENT_CANCELLED = "payment_cancelled"
    PAYMENT_NOTIFIED = "payment_notified"
    PAYMENT_RECORDED = "payment_recorded"
    PAYMENT_REFUSED = "payment_refused"
    # An agent corrected a vehicle event's misread plate (``detail.old_plate`` and
    # ``new_plate``); the stays were re-linked in the same transaction.
    PLATE_CORRECTED = "plate_corrected"
    # An agent matched an exit that found no entry to an open stay: ``detail.old_plate``
    # is the exit's, ``new_plate`` the stay's.
    STAY_MATCHED = "stay_matched"
    # Cars without a plate (console.noplate): a driver's phone opened a stay under a
    # temporary identity at an entry (``detail.identity``, the code's ``nonce``), and
    # closed it at an exit (free, or ``detail.order`` once paid). The gate's opens are
    # their own entries, by ``system``.
    NOPLATE_ENTERED = "noplate_entered"
    NOPLATE_EXITED = "noplate_exited"
    # An agent had the OCR read a vehicle event's plate a second time (``detail.plate``
    # the camera's, ``read_plate`` the OCR's, and whether they disagree); the reading
    # was kept on the event in the same transaction.
    PLATE_READ = "plate_read"


_ACTIONS = frozenset(action.value for action in AuditAction)


# ------------------------------------------------------------------ times


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
    return _sha256(
        _hashed_text(
            StoredEntry(
                seq,
                format_utc(at),
                fields.actor,
                str(fields.action),
                fields.lane,
                fields.command_id,
                fields.reason,
                fields.outcome,
                canonical_json(fields.detail),
                prev_hash,
                "",
            )
        )
    )


class StoredEntry(NamedTuple):
    """An entry as the store keeps it: every member in its canonical text form (``at``
    and ``detail`` included), in the store's column order."""

    seq: int
    at: str
    actor: str
    action: str
    lane: str | None
    command_id: str | None
    reason: str | None
    outcome: str | None
    detail: str
    prev_hash: str
    hash: str


def stored_hash(row: StoredEntry) -> str:
    """The hash of a stored entry, recomputed from the bytes stored. Raises ``ValueError``
    if a member is not in the one form the rules allow, since a verifier that re-encodes
    (as an auditor in another language does) would then hash different bytes."""
    if type(row.seq) is not int or not 1 <= row.seq <= MAX_SAFE_INT:
        raise ValueError(f"seq {row.seq!r} is not a positive integer")
    for name in ("at", "actor", "action", "detail", "prev_hash"):
        if not isinstance(getattr(row, name), str):
            raise ValueError(f"{name} is not text")
    for name in ("lane", "command_id", "reason", "outcome"):
        if getattr(row, name) is not None and not isinstance(getattr(row, name), str):
            raise ValueError(f"{name} is neither text nor null")
    if not row.actor:
        raise ValueError("actor is empty")
    if row.action not in _ACTIONS:
        raise ValueError(f"unknown action {row.action!r}")
    parse_utc(row.at)
    detail = parse_canonical(row.detail)
    if not isinstance(detail, dict) or canonical_json(detail) != row.detail:
        raise ValueError("detail is not a canonical JSON object")
    return _sha256(_hashed_text(row))


def _hashed_text(row: StoredEntry) -> str:
    """RFC 8785 text of the hashed object, spliced from members already canonical: the
    same bytes as ``canonical_json`` of :func:`_hashed_object` (members in key order),
    for one encoding of ``detail`` instead of one of the whole entry."""
    return "".join(
        (
            '{"action":',
            quote(row.action),
            ',"actor":',
            quote(row.actor),
            ',"at":',
            quote(row.at),
            ',"command_id":',
            _text_or_null(row.command_id),
            ',"detail":',
            row.detail,
            ',"lane":',
            _text_or_null(row.lane),
            ',"outcome":',
            _text_or_null(row.outcome),
            ',"prev_hash":',
            quote(row.prev_hash),
            ',"reason":',
            _text_or_null(row.reason),
            ',"seq":',
            str(row.seq),
            "}",
        )
    )


def _text_or_null(value: str | None) -> str:
    return "null" if value is None else quote(value)


def _sha256(text: str) -> str:
    try:
        data = text.encode("utf-8")
    except UnicodeEncodeError as exc:
        raise ValueError(f"text is not valid Unicode (lone surrogate): {exc}") from None
    return hashlib.sha256(data).hexdigest()


def seal(prev: str, seq: int, at: datetime, record: AuditRecord) -> AuditEntry:
    """Chain ``record`` after the entry whose hash is ``prev``."""
    return AuditEntry.build(
        seq=seq, at=at, record=record, prev_hash=prev, hash=entry_hash(seq, at, record, prev)
    )
