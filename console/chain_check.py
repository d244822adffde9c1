"""Checking the ledger's hash chain: entry by entry, oldest first, so a ledger of any
length streams through it, and the first broken link is named by its sequence number.
``seat audit verify``, the quick check at start (``ledger_check``) and the stores'
tests all walk it through here."""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Iterable
from dataclasses import dataclass
from typing import Protocol

from .errors import CorruptAuditEntry
from .ledger import (
    GENESIS_HASH,
    AuditEntry,
    StoredEntry,
    entry_hash,
    stored_hash,
)


@dataclass(frozen=True, slots=True)
class Verdict:
    """The entries up to seq ``count`` are intact (all of them, from seq 1, unless the
    check started later); if not ``ok``, ``bad_seq`` is the first sequence number at
    which the chain is not, and ``problem`` says how."""

    ok: bool
    count: int
    bad_seq: int | None = None
    problem: str | None = None


class ChainCheck:
    """Walks entries one at a time, oldest first, so a ledger of any length streams
    through it. It starts at seq 1 from the genesis hash, or after entry ``after`` whose
    hash is ``head``, when that part is vouched for otherwise (a signed checkpoint)."""

    def __init__(self, after: int = 0, head: str = GENESIS_HASH) -> None:
        # The seq and hash of the last entry found intact.
        self.count = after
        self.head = head
        self.verdict: Verdict | None = None

    def feed(self, entry: AuditEntry) -> bool:
        """Checks one more entry; False once a fault is found (and ``verdict`` says it)."""
        return self._link(
            entry.seq,
            entry.prev_hash,
            entry.hash,
            lambda: entry_hash(entry.seq, entry.at, entry, entry.prev_hash),
        )

    def feed_stored(self, row: StoredEntry) -> bool:
        """:meth:`feed` for an entry as stored, without decoding it into an ``AuditEntry``."""
        if type(row.seq) is not int:
            return self._fail(f"unreadable entry: seq {row.seq!r} is not an integer")
        return self._link(row.seq, row.prev_hash, row.hash, lambda: stored_hash(row))

    def _link(self, seq: int, prev_hash: str, claimed: str, recompute: Callable[[], str]) -> bool:
        if not self._in_sequence(seq):
            return False
        if prev_hash != self.head:
            return self._fail("broken link to previous entry")
        try:
            recomputed = recompute()
        except ValueError as exc:
            return self._fail(f"entry cannot be encoded: {exc}")
        if recomputed != claimed:
            return self._fail("hash mismatch")
        self.count += 1
        self.head = claimed
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
    check = ChainCheck()
    for entry in entries:
        if not check.feed(entry):
            break
    return check.result()


class AuditSource(Protocol):
    def iter_audit(self) -> AsyncIterator[AuditEntry]: ...


async def verify_audit(source: AuditSource) -> Verdict:
    """Streams a store's whole ledger through the chain check. A row too damaged to
    decode is a finding about the ledger, not a crash of the check."""
    check = ChainCheck()
    try:
        async for entry in source.iter_audit():
            if not check.feed(entry):
                break
    except CorruptAuditEntry as exc:
        check.unreadable(exc.seq, exc.problem)
    return check.result()
