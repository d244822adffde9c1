"""Signed checkpoints of the ledger's head: the anchor that a cut tail cannot forge.

The hash chain shows an entry edited or removed *inside* the ledger, but not entries cut
from its end: what is left is still a valid chain. A checkpoint is the centre's signed
statement "the ledger had ``count`` entries, and the hash of entry ``count`` was
``head``" (as a Certificate Transparency log signs its tree head). Kept somewhere the
ledger's file is not, it shows any later ledger that ends earlier, or that holds other
entries up to ``count``.

Pure code: no files, no clock. ``anchor_files.py`` reads and writes them.

How a checkpoint is written and checked
=======================================

One checkpoint is one line of UTF-8: the canonical JSON (RFC 8785, see ``ledger.py``)
of an object with exactly these members:

``type``   ``"seat-audit-checkpoint/1"``
``count``  integer, the number of entries (0 for an empty ledger)
``head``   the ``hash`` of entry ``count`` (64 × ``"0"`` when ``count`` is 0)
``at``     when it was signed, ``YYYY-MM-DDTHH:MM:SS.ffffffZ``
``key``    the signing key's id: the first 16 lower-case hex digits of the SHA-256 of
           its raw 32-byte Ed25519 public key
``sig``    standard base64 (RFC 4648 §4) of the Ed25519 signature (RFC 8032) of the
           UTF-8 bytes of the canonical JSON of this same object *without* ``sig``

A ledger is consistent with a checkpoint if it has at least ``count`` entries and its
entry ``count`` has hash ``head``; the chain then vouches for every entry before it.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import re
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from .canonical import MAX_SAFE_INT, canonical_json, parse_canonical
from .ledger import GENESIS_HASH, format_utc, parse_utc

CHECKPOINT_TYPE = "seat-audit-checkpoint/1"
_HASH = re.compile(r"[0-9a-f]{64}")
_KEY_ID = re.compile(r"[0-9a-f]{16}")
_MEMBERS = {"type", "count", "head", "at", "key", "sig"}


def key_id(public: Ed25519PublicKey) -> str:
    raw = public.public_bytes(Encoding.Raw, PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    count: int
    head: str
    at: datetime
    key: str
    sig: bytes

    def _signed(self) -> dict[str, object]:
        return {
            "type": CHECKPOINT_TYPE,
            "count": self.count,
            "head": self.head,
            "at": format_utc(self.at),
            "key": self.key,
        }

    def signed_bytes(self) -> bytes:
        return canonical_json(self._signed()).encode("utf-8")

    def to_line(self) -> str:
        """The checkpoint as one line of text, without its newline."""
        return canonical_json({**self._signed(), "sig": base64.b64encode(self.sig).decode()})

    @classmethod
    def parse(cls, line: str) -> Checkpoint:
        """Reads :meth:`to_line`'s form, and only it; ``ValueError`` says what is wrong."""
        try:
            body = parse_canonical(line)
        except ValueError:
            raise ValueError("not JSON") from None
        if not isinstance(body, dict) or set(body) != _MEMBERS:
            raise ValueError(f"not a checkpoint: members must be {sorted(_MEMBERS)}")
        if body["type"] != CHECKPOINT_TYPE:
            raise ValueError(f"unknown type {body['type']!r}")
        count, head, at, key, sig = (body[k] for k in ("count", "head", "at", "key", "sig"))
        if type(count) is not int or not 0 <= count <= MAX_SAFE_INT:
            raise ValueError(f"count {count!r} is not a whole number")
        if not isinstance(head, str) or not _HASH.fullmatch(head):
            raise ValueError("head is not 64 lower-case hex digits")
        if count == 0 and head != GENESIS_HASH:
            raise ValueError("a checkpoint of 0 entries must have the genesis hash as head")
        if not isinstance(key, str) or not _KEY_ID.fullmatch(key):
            raise ValueError("key is not 16 lower-case hex digits")
        if not isinstance(at, str):
            raise ValueError("at is not text")
        if not isinstance(sig, str):
            raise ValueError("sig is not text")
        try:
            signature = base64.b64decode(sig, validate=True)
        except binascii.Error:
            raise ValueError("sig is not base64") from None
        checkpoint = cls(count, head, parse_utc(at), key, signature)
        if checkpoint.to_line() != line:
            raise ValueError("not in canonical form")
        return checkpoint


def sign_checkpoint(key: Ed25519PrivateKey, count: int, head: str, at: datetime) -> Checkpoint:
    unsigned = Checkpoint(count, head, at, key_id(key.public_key()), b"")
    return Checkpoint(count, head, at, unsigned.key, key.sign(unsigned.signed_bytes()))


def signature_problem(checkpoint: Checkpoint, keys: Mapping[str, Ed25519PublicKey]) -> str | None:
    """None if one of ``keys`` (by key id) signed ``checkpoint``; else why not."""
    public = keys.get(checkpoint.key)
    if public is None:
        known = ", ".join(sorted(keys)) or "none"
        return f"signed by key {checkpoint.key}, which is not a known key (known: {known})"
    try:
        public.verify(checkpoint.sig, checkpoint.signed_bytes())
    except InvalidSignature:
        return f"its signature does not verify with key {checkpoint.key}"
    return None


# ------------------------------------------------------------------ checking a ledger


@dataclass(frozen=True, slots=True)
class Anchored:
    """A checkpoint and where it was read, e.g. ``/mnt/b/anchors.jsonl line 3``."""

    where: str
    checkpoint: Checkpoint

    def describe(self) -> str:
        return f"the checkpoint at {self.where} (signed {format_utc(self.checkpoint.at)})"


@dataclass(frozen=True, slots=True)
class Finding:
    """One thing wrong: with the first entry it puts in doubt, when there is one."""

    bad_seq: int | None
    problem: str


class CheckpointCheck:
    """Holds checkpoints against a walk of the chain: call :meth:`reached` with each head
    the walk finds intact, in order (starting with the head it starts from), then
    :meth:`finish` with where the ledger ends."""

    def __init__(self, anchored: Iterable[Anchored], keys: Mapping[str, Ed25519PublicKey]) -> None:
        self.findings: list[Finding] = []
        self.matched = 0
        self.newest: Anchored | None = None
        self._by_count: dict[int, list[Anchored]] = {}
        self._vouched: int | None = None
        for item in anchored:
            problem = signature_problem(item.checkpoint, keys)
            if problem is not None:
                self.findings.append(Finding(None, f"{item.describe()}: {problem}"))
            else:
                self._by_count.setdefault(item.checkpoint.count, []).append(item)

    def reached(self, count: int, head: str) -> None:
        if self._vouched is None:
            self._vouched = count  # where the walk starts is vouched for by the caller
        for item in self._by_count.pop(count, ()):
            if item.checkpoint.head == head:
                self.matched += 1
                self._vouched = count
                if self.newest is None or count >= self.newest.checkpoint.count:
                    self.newest = item
                continue
            first = self._vouched + 1
            self.findings.append(
                Finding(
                    first,
                    f"entry {count} has hash {head}, but {item.describe()} signed "
                    f"{item.checkpoint.head} for it: the chain is whole, so entries "
                    f"{first}–{count} were rewritten or the file replaced",
                )
            )

    def finish(self, end: int) -> None:
        """``end``: the ledger's last entry. Checkpoints the walk did not reach but the
        ledger holds lie beyond a break in the chain, already a finding of its own."""
        for count in sorted(self._by_count):
            if count <= end:
                continue
            for item in self._by_count[count]:
                self.findings.append(
                    Finding(
                        end + 1,
                        f"the ledger ends at entry {end}, but {item.describe()} covers "
                        f"{count} entries, the last with hash {item.checkpoint.head}",
                    )
                )
        self._by_count.clear()


# ------------------------------------------------------------------ when to sign


class AnchorSchedule:
    """When to sign the next checkpoint: once ``every_entries`` entries are not covered
    by one, or ``every_s`` seconds after the first entry that is not, whichever comes
    first. Times are monotonic seconds."""

    def __init__(self, every_entries: int, every_s: float, signed: int) -> None:
        if every_entries < 1 or every_s <= 0:
            raise ValueError("checkpoints need every_entries >= 1 and every_s > 0")
        self.every_entries = every_entries
        self.every_s = every_s
        self.signed = signed
        self.head = signed
        self._pending_since: float | None = None
        self._not_before = float("-inf")

    def noted(self, count: int, now: float) -> bool:
        """The ledger reached ``count`` entries. True when a waiter must look again:
        the first entry not covered (a deadline starts) or enough entries to sign."""
        if count <= self.head:
            return False
        self.head = count
        if self._pending_since is None:
            self._pending_since = now
            return True
        return count - self.signed >= self.every_entries

    def wait_s(self, now: float) -> float | None:
        """Seconds until a checkpoint is due; None while every entry is covered."""
        if self._pending_since is None:
            return None
        due = self._pending_since + self.every_s
        if self.head - self.signed >= self.every_entries:
            due = now
        return max(0.0, due - now, self._not_before - now)

    def signed_up_to(self, count: int, now: float) -> None:
        self.signed = max(self.signed, count)
        self.head = max(self.head, count)
        self._pending_since = now if self.head > self.signed else None
        self._not_before = float("-inf")

    def failed(self, now: float) -> None:
        """Writing failed: try again after ``every_s``, not in a tight loop."""
        self._not_before = now + self.every_s
