"""The hash chain, from literals: no database, no clock."""

from __future__ import annotations

import dataclasses
import hashlib
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import pytest

from console.canonical import canonical_json
from console.chain_check import Verdict, verify, verify_audit
from console.errors import CorruptAuditEntry
from console.ledger import GENESIS_HASH, AuditAction, AuditEntry, AuditRecord, seal

T0 = datetime(2024, 5, 1, 8, 0, 0, 123, tzinfo=UTC)

RECORDS = [
    AuditRecord(actor="admin", action=AuditAction.LOGIN, detail={"remote": "10.0.0.7"}),
    AuditRecord(
        actor="zhang",
        action=AuditAction.GATE_OPEN_REQUESTED,
        lane="P01-exit-1",
        command_id="c-0001",
        reason="paid_not_lifted",
        detail={"note": "缴费不抬杆", "role": "agent"},
    ),
    AuditRecord(
        actor="zhang",
        action=AuditAction.GATE_OPEN_OUTCOME,
        lane="P01-exit-1",
        command_id="c-0001",
        reason="paid_not_lifted",
        outcome="done",
        detail={"ms": 182.4},
    ),
]


def chain(records: list[AuditRecord]) -> list[AuditEntry]:
    entries: list[AuditEntry] = []
    prev = GENESIS_HASH
    for seq, record in enumerate(records, start=1):
        entry = seal(prev, seq, T0 + timedelta(seconds=seq), record)
        entries.append(entry)
        prev = entry.hash
    return entries


def test_chain_of_three_verifies() -> None:
    """Three sealed entries, each linked to the one before, verify."""
    entries = chain(RECORDS)
    assert [e.seq for e in entries] == [1, 2, 3]
    assert entries[0].prev_hash == GENESIS_HASH
    assert entries[2].prev_hash == entries[1].hash
    assert verify(entries) == Verdict(ok=True, count=3)


def test_empty_ledger_verifies() -> None:
    """No entries is a valid (empty) ledger."""
    assert verify([]) == Verdict(ok=True, count=0)


@pytest.mark.parametrize(
    ("field", "value", "problem"),
    [
        ("seq", 7, "sequence gap: expected 2, found 7"),
        ("at", T0 + timedelta(hours=1), "hash mismatch"),
        ("at", T0 + timedelta(seconds=2, microseconds=1), "hash mismatch"),
        ("actor", "li", "hash mismatch"),
        ("action", AuditAction.DISPLAY_REQUESTED, "hash mismatch"),
        ("lane", "P01-exit-2", "hash mismatch"),
        ("lane", None, "hash mismatch"),
        ("command_id", "c-0002", "hash mismatch"),
        ("reason", "equipment_fault", "hash mismatch"),
        ("outcome", "done", "hash mismatch"),
        ("detail", {"note": "缴费不抬杆", "role": "admin"}, "hash mismatch"),
        ("detail", {}, "hash mismatch"),
        ("prev_hash", "f" * 64, "broken link to previous entry"),
        ("hash", "0" * 64, "hash mismatch"),
    ],
)
def test_altering_any_field_of_entry_2_names_seq_2(field: str, value: Any, problem: str) -> None:
    """Whatever field of entry 2 is changed, the verdict points at seq 2."""
    entries = chain(RECORDS)
    entries[1] = dataclasses.replace(entries[1], **{field: value})
    assert verify(entries) == Verdict(ok=False, count=1, bad_seq=2, problem=problem)


def test_rewriting_entry_2_with_a_fresh_hash_breaks_the_link_from_entry_3() -> None:
    """Re-sealing a changed entry fixes its own hash but not the next entry's link."""
    entries = chain(RECORDS)
    forged = dataclasses.replace(RECORDS[1], reason="free_release")
    entries[1] = seal(entries[0].hash, 2, entries[1].at, forged)
    assert verify(entries) == Verdict(
        ok=False, count=2, bad_seq=3, problem="broken link to previous entry"
    )


def test_deleting_entry_2_is_reported_as_a_gap_at_seq_2() -> None:
    """A missing entry is named by the seq that is missing."""
    entries = chain(RECORDS)
    del entries[1]
    assert verify(entries) == Verdict(
        ok=False, count=1, bad_seq=2, problem="sequence gap: expected 2, found 3"
    )


def test_deleting_entry_1_is_reported_as_a_gap_at_seq_1() -> None:
    """The chain must start at seq 1 from the genesis hash."""
    entries = chain(RECORDS)[1:]
    assert verify(entries) == Verdict(
        ok=False, count=0, bad_seq=1, problem="sequence gap: expected 1, found 2"
    )


def test_swapping_entries_2_and_3_fails_at_seq_2() -> None:
    """Reordering is caught where the order first breaks."""
    entries = chain(RECORDS)
    entries[1], entries[2] = entries[2], entries[1]
    assert verify(entries) == Verdict(
        ok=False, count=1, bad_seq=2, problem="sequence gap: expected 2, found 3"
    )


def test_a_repeated_entry_is_out_of_order() -> None:
    """An entry inserted twice is caught at the second copy."""
    entries = chain(RECORDS)
    entries.insert(2, entries[1])
    assert verify(entries) == Verdict(
        ok=False, count=2, bad_seq=3, problem="sequence out of order: expected 3, found 2"
    )


def test_canonical_encoding_is_stable() -> None:
    """The exact bytes and hash of one literal entry: an encoding change fails here."""
    record = AuditRecord(
        actor="张三",
        action=AuditAction.GATE_OPEN_REQUESTED,
        lane="P01-exit-1",
        command_id="c-0001",
        reason="paid_not_lifted",
        detail={"remote": "10.0.0.7", "note": '缴费不抬杆\n"ok"', "ms": 12.5, "n": 1.0, "z": None},
    )
    entry = seal(GENESIS_HASH, 1, T0, record)
    hashed = {k: v for k, v in entry.to_json().items() if k != "hash"}
    text = (
        '{"action":"gate_open_requested","actor":"张三","at":"2024-05-01T08:00:00.000123Z",'
        '"command_id":"c-0001","detail":{"ms":12.5,"n":1,"note":"缴费不抬杆\\n\\"ok\\"",'
        '"remote":"10.0.0.7","z":null},"lane":"P01-exit-1","outcome":null,'
        '"prev_hash":"0000000000000000000000000000000000000000000000000000000000000000",'
        '"reason":"paid_not_lifted","seq":1}'
    )
    assert canonical_json(hashed) == text
    assert entry.hash == hashlib.sha256(text.encode("utf-8")).hexdigest()
    assert entry.hash == "c9ea4269a310d11f03ea797ced9310ac5d5e351c8bd29d21ff6ffb8116dfc92d"


@pytest.mark.parametrize(
    ("number", "text"),
    [
        # RFC 8785 appendix B, and the spellings ECMAScript picks.
        (0.0, "0"),
        (-0.0, "0"),
        (1.0, "1"),
        (5e-324, "5e-324"),
        (1.7976931348623157e308, "1.7976931348623157e+308"),
        (9007199254740992.0, "9007199254740992"),
        (295147905179352830000.0, "295147905179352830000"),
        (1e21, "1e+21"),
        (333333333.3333333, "333333333.3333333"),
        (0.000001, "0.000001"),
        (1e-7, "1e-7"),
        (-1.5e-7, "-1.5e-7"),
        (2**60, "1152921504606847000"),
    ],
)
def test_numbers_are_written_as_ecmascript_writes_them(number: float, text: str) -> None:
    """Numbers follow RFC 8785, so a JavaScript or Go auditor gets the same bytes."""
    assert canonical_json(number) == text


def test_keys_sort_by_utf16_code_units() -> None:
    """RFC 8785 orders keys by UTF-16 code units, which differs from code-point order."""
    assert canonical_json({"\U0001f600": 1, "\ufb01": 2, "a": 3}) == '{"a":3,"😀":1,"ﬁ":2}'


@pytest.mark.parametrize(
    "detail",
    [
        {"t": {1, 2}},
        {"nan": float("nan")},
        {"big": 2**53 + 1},
        {"bad": "\ud800"},
        {"nested": {1: "x"}},
        {"when": datetime(2024, 1, 1, tzinfo=UTC)},
    ],
)
def test_detail_that_cannot_be_hashed_everywhere_is_refused(detail: dict[str, object]) -> None:
    """A record whose detail would not encode the same in every language is refused."""
    with pytest.raises(ValueError):
        AuditRecord(actor="admin", action=AuditAction.LOGIN, detail=detail)


def test_record_keeps_its_own_copy_of_detail() -> None:
    """Changing the caller's dict afterwards cannot change a sealed entry."""
    mine: dict[str, object] = {"note": "before", "tags": ["a"]}
    record = AuditRecord(actor="admin", action=AuditAction.LOGIN, detail=mine)
    entry = seal(GENESIS_HASH, 1, T0, record)
    mine["note"] = "after"
    assert entry.detail["note"] == "before"
    assert verify([entry]).ok


def test_a_plain_string_action_becomes_the_enum() -> None:
    """``action="login"`` from a caller is stored as ``AuditAction.LOGIN``."""
    record = AuditRecord(actor="admin", action="login")  # type: ignore[arg-type]
    assert record.action is AuditAction.LOGIN


def test_unknown_action_is_refused() -> None:
    """Only the ledger's own actions may be recorded."""
    with pytest.raises(ValueError):
        AuditRecord(actor="admin", action="drop_table")  # type: ignore[arg-type]


def test_naive_time_is_refused() -> None:
    """A naive time would hash differently depending on the server's zone."""
    with pytest.raises(ValueError):
        seal(GENESIS_HASH, 1, datetime(2024, 5, 1, 8, 0), RECORDS[0])


def test_times_are_sealed_in_utc() -> None:
    """The same instant written in Beijing time seals to the same entry."""
    beijing = timezone(timedelta(hours=8))
    local = seal(GENESIS_HASH, 1, T0.astimezone(beijing), RECORDS[0])
    assert local == seal(GENESIS_HASH, 1, T0, RECORDS[0])
    assert local.to_json()["at"] == "2024-05-01T08:00:00.000123Z"


def test_to_json_without_hash_is_what_was_hashed() -> None:
    """An auditor re-verifies from the API's JSON alone."""
    for entry in chain(RECORDS):
        body = entry.to_json()
        claimed = body.pop("hash")
        assert hashlib.sha256(canonical_json(body).encode("utf-8")).hexdigest() == claimed


class _Source:
    def __init__(self, entries: list[AuditEntry], corrupt_at: int | None = None) -> None:
        self.entries = entries
        self.corrupt_at = corrupt_at

    async def iter_audit(self) -> AsyncIterator[AuditEntry]:
        for entry in self.entries:
            if entry.seq == self.corrupt_at:
                raise CorruptAuditEntry(entry.seq, "detail is not canonical JSON")
            yield entry


async def test_verify_audit_streams_a_source() -> None:
    """The async helper gives the same verdict as ``verify``."""
    assert await verify_audit(_Source(chain(RECORDS))) == Verdict(ok=True, count=3)


async def test_verify_audit_reports_an_undecodable_row_as_a_finding() -> None:
    """A row the store cannot decode is a bad entry in the verdict, not a crash."""
    verdict = await verify_audit(_Source(chain(RECORDS), corrupt_at=2))
    assert verdict == Verdict(
        ok=False,
        count=1,
        bad_seq=2,
        problem="unreadable entry: detail is not canonical JSON",
    )
