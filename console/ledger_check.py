"""Checking a ledger against its checkpoints: the whole audit (``seat audit verify``)
and the quick check before anything opens the ledger for writing.

Both read through ``sqlite_reader.py`` (a SQLite file) or ``pg_reader.py`` (a
PostgreSQL store), one snapshot that changes nothing. The quick check starts at
the newest checkpoint instead of entry 1: it checks that checkpoint's signature, that
the ledger still holds that entry with that hash, and every entry after it. That is
what a cut tail, or a tail rewritten after the checkpoint, would show in; an edit to an
older entry is for ``seat audit verify``, which recomputes every hash.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Protocol, TypeVar

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from .anchor_files import (
    AnchorLines,
    append_anchor,
    create_signing_key,
    key_lock,
    last_anchor,
    load_public_keys,
    load_signing_key,
    read_anchors,
    write_public_key,
)
from .chain_check import ChainCheck
from .checkpoints import Anchored, Checkpoint, CheckpointCheck, Finding, key_id, sign_checkpoint
from .errors import CorruptAuditEntry, LedgerFault, StoreError
from .ledger import GENESIS_HASH, StoredEntry
from .pg_reader import has_ledger, read_pg_ledger
from .settings import Settings
from .sqlite_reader import read_ledger
from .stores import store_name

log = logging.getLogger("seat.audit")
_T = TypeVar("_T")


class LedgerView(Protocol):
    """One snapshot of a ledger, in either store."""

    def end(self) -> int: ...
    def entry(self, seq: int) -> StoredEntry | None: ...
    def entries(self, after: int = 0) -> Iterator[StoredEntry]: ...


def read_centre_ledger(settings: Settings, read: Callable[[LedgerView], _T]) -> _T:
    """``read`` on a snapshot of the centre's ledger, in whichever store holds it."""
    if settings.database_url is not None:
        return read_pg_ledger(settings.database_url, read)
    return read_ledger(settings.database, read)


def ledger_exists(settings: Settings) -> bool:
    if settings.database_url is not None:
        return has_ledger(settings.database_url)
    return settings.database.is_file()


@dataclass(frozen=True, slots=True)
class LedgerReport:
    """What a check found. The chain was walked from entry ``checked_from`` and is
    intact up to ``intact`` (whose hash is ``head``); the ledger ends at ``end``."""

    checked_from: int
    intact: int
    head: str
    end: int
    findings: tuple[Finding, ...] = ()
    matched: int = 0
    newest: Anchored | None = None
    notes: tuple[str, ...] = ()

    @property
    def ok(self) -> bool:
        return not self.findings


def check_ledger(
    reader: LedgerView,
    anchored: Iterable[Anchored],
    keys: Mapping[str, Ed25519PublicKey],
    *,
    start: int = 0,
) -> LedgerReport:
    """Walks the chain from entry ``start`` (recomputing its hash and trusting only its
    link back, which a checkpoint at ``start`` vouches for) or from the genesis, and
    holds every checkpoint of ``anchored`` against it."""
    checks = CheckpointCheck(anchored, keys)
    end = reader.end()
    first = reader.entry(start) if start > 0 else None
    if start > 0 and first is None:
        checks.finish(end)  # the ledger ends before the checkpoint: a cut
        return _report(start, ChainCheck(after=end, head=GENESIS_HASH), end, checks)
    chain = ChainCheck() if first is None else ChainCheck(after=start - 1, head=first.prev_hash)
    checks.reached(chain.count, chain.head)
    try:
        for row in reader.entries(after=chain.count):
            if not chain.feed_stored(row):
                break
            checks.reached(chain.count, chain.head)
    except CorruptAuditEntry as exc:
        chain.unreadable(exc.seq, exc.problem)
    checks.finish(end)
    return _report(max(start, 1), chain, end, checks)


def _report(
    checked_from: int, chain: ChainCheck, end: int, checks: CheckpointCheck
) -> LedgerReport:
    verdict = chain.result()
    findings = list(checks.findings)
    if not verdict.ok:
        assert verdict.problem is not None
        findings.append(Finding(verdict.bad_seq, verdict.problem))
    findings.sort(key=lambda f: (f.bad_seq is None, f.bad_seq or 0))
    return LedgerReport(
        checked_from=checked_from,
        intact=verdict.count,
        head=chain.head,
        end=end,
        findings=tuple(findings),
        matched=checks.matched,
        newest=checks.newest,
    )


# ------------------------------------------------------------------ the whole audit


def audit_ledger(
    settings: Settings, anchors: list[Path], public_keys: list[Path], *, default_anchor: bool
) -> LedgerReport:
    """``seat audit verify``: every entry, against every checkpoint in ``anchors``.
    A missing anchor file is an error when named by the operator; the configured one
    (``default_anchor``) may hold no checkpoint only on a ledger never signed (no
    public key). Anchors are read before the ledger, as in :func:`check_before_start`."""
    keys = load_public_keys(public_keys)
    anchored: list[Anchored] = []
    notes: list[str] = []
    findings: list[Finding] = []
    for path in anchors:
        try:
            lines = read_anchors(path)
        except FileNotFoundError:
            if not default_anchor:
                raise StoreError("no_anchor", f"no anchor file at {path}") from None
            lines = AnchorLines()
        except OSError as exc:
            raise StoreError("read_failed", f"{path}: {exc}") from exc
        if default_anchor and keys and not lines.anchored:
            findings.append(Finding(None, _lost(path, public_keys[0])))
        anchored += lines.anchored
        notes += lines.skipped
    if anchored and not keys:
        findings.append(
            Finding(None, "no public key to check the checkpoints' signatures with (--public-key)")
        )
        anchored = []
    report = read_centre_ledger(settings, lambda reader: check_ledger(reader, anchored, keys))
    return dataclasses.replace(
        report, findings=report.findings + tuple(findings), notes=tuple(notes)
    )


# ------------------------------------------------------------------ before writing


@dataclass(frozen=True, slots=True)
class StartCheck:
    """The quick check's result; ``fault`` is None when the ledger may be written to."""

    report: LedgerReport
    fault: Finding | None
    notes: tuple[str, ...] = ()


def check_before_start(settings: Settings) -> StartCheck:
    """The quick check (see the module docstring), for a centre's start, a CLI command
    that writes, and a receipt. A ledger never signed (no key, no checkpoint) is checked
    whole, once: that is the first start."""
    # The anchor file is read before the ledger: every checkpoint in it then covers
    # entries the ledger's snapshot holds, even while a centre writes both.
    with key_lock(settings.audit_key, exclusive=False):
        key = load_signing_key(settings.audit_key)
        try:
            lines = last_anchor(settings.anchor_file)
        except FileNotFoundError:
            lines = AnchorLines()
        except OSError as exc:
            return _fault(settings, f"the anchor file {settings.anchor_file}: {exc}")
    last = lines.anchored[-1] if lines.anchored else None
    notes = tuple(lines.skipped)
    if key is None and last is not None:
        return _fault(
            settings, f"{last.describe()} is there, but the signing key {settings.audit_key} is not"
        )
    if key is not None and last is None:
        return _fault(settings, _lost(settings.anchor_file, settings.audit_key))
    keys = {} if key is None else {key_id(key.public_key()): key.public_key()}
    start = 0 if last is None else last.checkpoint.count
    if not ledger_exists(settings):
        # A missing ledger file is an empty ledger to the checkpoints: a cut to nothing.
        checks = CheckpointCheck([last] if last else [], keys)
        checks.reached(0, GENESIS_HASH)
        checks.finish(0)
        report = _report(0, ChainCheck(), 0, checks)
    else:
        found = [last] if last else []
        report = read_centre_ledger(
            settings, lambda reader: check_ledger(reader, found, keys, start=start)
        )
    return StartCheck(report, report.findings[0] if report.findings else None, notes)


def _lost(anchor: Path, key: Path) -> str:
    return (
        f"{anchor} holds no checkpoint, but the ledger has been signed ({key} exists): the "
        "checkpoints are lost, or SEAT_AUDIT_ANCHOR changed (copy the file to its new place)"
    )


def _fault(settings: Settings, problem: str) -> StartCheck:
    """A fault found before the chain was walked; the ledger's end is still read, for
    the count an operator may accept it at."""
    end = 0
    if ledger_exists(settings):
        end = read_centre_ledger(settings, lambda reader: reader.end())
    finding = Finding(None, problem)
    return StartCheck(LedgerReport(0, 0, GENESIS_HASH, end, (finding,)), finding)


def ensure_ledger_sound(settings: Settings, accept: int | None = None) -> StartCheck:
    """The quick check; raises ``LedgerFault`` if it fails, unless ``accept`` is the
    number of entries the ledger ends at: the operator's word to start on it as it
    stands. A check returned with a ``fault`` is such an acceptance, for the centre to
    record."""
    check = check_before_start(settings)
    for note in check.notes:
        log.warning("audit.anchor.skipped %s", note)
    if check.fault is None:
        if accept is not None:
            log.warning("audit.ledger.accept_ignored the ledger passed its check")
        return check
    end = check.report.end
    if accept == end:
        log.error(
            "audit.ledger.fault_accepted entries=%d bad_seq=%s problem=%s",
            end,
            check.fault.bad_seq,
            check.fault.problem,
        )
        return check
    where = "" if check.fault.bad_seq is None else f"bad entry {check.fault.bad_seq}: "
    raise LedgerFault(
        "ledger_bad",
        f"{store_name(settings)} fails its check, so it is not opened for writing: "
        f"{where}{check.fault.problem}. `seat audit verify` checks it all. To start the "
        f"centre on the ledger as it stands ({end} entries), which is then recorded in "
        f"it: seat serve --accept-bad-ledger {end}",
    )


# ------------------------------------------------------------------ signing


def sign_with_key(
    settings: Settings, count: int, head: str, at: datetime
) -> tuple[Ed25519PrivateKey, Checkpoint]:
    """The centre's key, made on first use, and the checkpoint it signs of ``count``
    entries ending in ``head``: a key made here appears with that checkpoint, as one
    change to any check (``key_lock``)."""
    with key_lock(settings.audit_key, exclusive=True):
        key = load_signing_key(settings.audit_key)
        if key is None:
            key = create_signing_key(settings.audit_key, settings.audit_public_key)
        elif not settings.audit_public_key.exists():
            write_public_key(settings.audit_public_key, key.public_key())
        return key, sign_head(key, settings.anchor_file, count, head, at)


def sign_head(
    key: Ed25519PrivateKey, anchor: Path, count: int, head: str, at: datetime
) -> Checkpoint:
    """Signs ``count`` entries ending in ``head`` with a key that has signed before,
    and appends it to ``anchor``."""
    checkpoint = sign_checkpoint(key, count, head, at)
    append_anchor(anchor, checkpoint)
    log.info("audit.anchor.signed count=%d head=%s path=%s", count, head, anchor)
    return checkpoint
