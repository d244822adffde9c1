"""Signed checkpoints and their check against a chain, from literals: no files, no clock."""

from __future__ import annotations

import dataclasses
from datetime import UTC, datetime

import pytest
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from console.checkpoints import (
    Anchored,
    AnchorSchedule,
    Checkpoint,
    CheckpointCheck,
    Finding,
    key_id,
    sign_checkpoint,
)
from console.ledger import GENESIS_HASH

T0 = datetime(2024, 5, 1, 8, 0, 0, 123, tzinfo=UTC)
KEY = Ed25519PrivateKey.from_private_bytes(bytes(range(32)))
OTHER = Ed25519PrivateKey.from_private_bytes(bytes(range(1, 33)))
KEYS: dict[str, Ed25519PublicKey] = {key_id(KEY.public_key()): KEY.public_key()}
HEADS = {n: f"{n:064x}" for n in range(1, 11)}  # stand-ins for the hashes of entries 1-10


def anchored(count: int, head: str | None = None, key: Ed25519PrivateKey = KEY) -> Anchored:
    head = head or (HEADS[count] if count else GENESIS_HASH)
    return Anchored(f"anchors line {count}", sign_checkpoint(key, count, head, T0))


def walk(check: CheckpointCheck, heads: dict[int, str], end: int) -> None:
    check.reached(0, GENESIS_HASH)
    for count in range(1, end + 1):
        check.reached(count, heads[count])
    check.finish(end)


def test_a_checkpoint_line_is_stable() -> None:
    """The exact line for one literal checkpoint: a format change fails here."""
    checkpoint = sign_checkpoint(KEY, 3, "ab" * 32, T0)
    assert checkpoint.to_line() == (
        '{"at":"2024-05-01T08:00:00.000123Z","count":3,"head":"'
        + "ab" * 32
        + '","key":"56475aa75463474c","sig":"tbfN7SWqoRApwtMRxL68W2O5z3YBmnTksdwnWeU6/MSkgdfxy'
        'VoHkd0qMx668RuCaOQG6GiM6jqXG+CEU6McBg==","type":"seat-audit-checkpoint/1"}'
    )
    assert Checkpoint.parse(checkpoint.to_line()) == checkpoint


@pytest.mark.parametrize(
    ("change", "problem"),
    [
        (lambda line: line.replace('"count":3', '"count": 3'), "canonical"),
        (lambda line: line.replace('"count":3', '"count":3.5'), "whole number"),
        (lambda line: line.replace('"type":"seat-audit-checkpoint/1"', '"type":"x"'), "type"),
        (lambda line: line.replace('"key":"56475aa75463474c"', '"key":"56475AA75463474C"'), "key"),
        (lambda line: line.replace('"sig":"', '"sig":"!'), "base64"),
        (lambda line: line[:-1], "JSON"),
    ],
)
def test_a_line_not_in_the_one_form_is_refused(change: object, problem: str) -> None:
    """Parsing takes only the canonical form, so every reader sees the same checkpoint."""
    line = sign_checkpoint(KEY, 3, "ab" * 32, T0).to_line()
    assert callable(change)
    with pytest.raises(ValueError, match=problem):
        Checkpoint.parse(change(line))


def test_a_ledger_holding_every_signed_head_passes() -> None:
    """Checkpoints at 0, 4 and 10 all match: no finding, the newest is at 10."""
    check = CheckpointCheck([anchored(0), anchored(4), anchored(10)], KEYS)
    walk(check, HEADS, 10)
    assert (check.findings, check.matched) == ([], 3)
    assert check.newest is not None and check.newest.checkpoint.count == 10


def test_a_ledger_ending_before_a_checkpoint_is_a_cut_named_by_its_first_missing_entry() -> None:
    """A chain of 6 against a checkpoint of 10: entry 7 on is missing."""
    check = CheckpointCheck([anchored(4), anchored(10)], KEYS)
    walk(check, HEADS, 6)
    assert check.findings == [
        Finding(
            7,
            "the ledger ends at entry 6, but the checkpoint at anchors line 10 (signed "
            f"2024-05-01T08:00:00.000123Z) covers 10 entries, the last with hash {HEADS[10]}",
        )
    ]


def test_a_rewritten_chain_is_named_from_the_last_checkpoint_that_still_matches() -> None:
    """Entries re-sealed from 6 on: the chain is whole, the checkpoint at 8 disagrees."""
    rewritten = {**HEADS, **{n: f"{n:064x}".replace("0", "f") for n in range(6, 11)}}
    check = CheckpointCheck([anchored(4), anchored(8)], KEYS)
    walk(check, rewritten, 10)
    assert [(f.bad_seq, f.problem.split(": ")[-1]) for f in check.findings] == [
        (5, "the chain is whole, so entries 5–8 were rewritten or the file replaced")
    ]
    assert check.matched == 1


def test_a_checkpoint_with_a_bad_signature_is_a_finding_and_vouches_for_nothing() -> None:
    """A forged or damaged checkpoint is reported, and not used to judge the chain."""
    forged = anchored(10)
    bad_sig = dataclasses.replace(forged.checkpoint, count=3)
    check = CheckpointCheck([Anchored("anchors line 2", bad_sig)], KEYS)
    walk(check, HEADS, 10)
    assert len(check.findings) == 1
    assert check.findings[0].bad_seq is None
    assert "signature does not verify with key 56475aa75463474c" in check.findings[0].problem
    assert check.matched == 0


def test_a_checkpoint_by_an_unknown_key_is_a_finding() -> None:
    """Only the keys given may sign; another key's checkpoint is named with its id."""
    check = CheckpointCheck([anchored(3, key=OTHER)], KEYS)
    walk(check, HEADS, 10)
    assert [f.problem.split(": ", 1)[1] for f in check.findings] == [
        f"signed by key {key_id(OTHER.public_key())}, which is not a known key "
        "(known: 56475aa75463474c)"
    ]


def test_schedule_is_due_after_the_entry_count() -> None:
    """Three entries with every_entries=3 make a checkpoint due at once."""
    schedule = AnchorSchedule(every_entries=3, every_s=60, signed=0)
    assert schedule.wait_s(0.0) is None
    assert schedule.noted(1, 0.0) is True  # the first uncovered entry starts a deadline
    assert schedule.noted(2, 0.1) is False
    assert schedule.wait_s(0.1) == pytest.approx(59.9)
    assert schedule.noted(3, 0.2) is True
    assert schedule.wait_s(0.2) == 0


def test_schedule_is_due_every_s_after_the_first_uncovered_entry() -> None:
    """One entry, then silence: due every_s after that entry, not after the last one."""
    schedule = AnchorSchedule(every_entries=1000, every_s=10, signed=5)
    schedule.noted(6, 100.0)
    schedule.noted(7, 105.0)
    assert schedule.wait_s(105.0) == 5.0
    assert schedule.wait_s(111.0) == 0


def test_schedule_rests_once_signed_and_backs_off_after_a_failure() -> None:
    """Signed up to the head: nothing due; a failed write is retried after every_s."""
    schedule = AnchorSchedule(every_entries=2, every_s=10, signed=0)
    schedule.noted(2, 0.0)
    schedule.failed(0.0)
    assert schedule.wait_s(0.0) == 10.0
    schedule.signed_up_to(2, 10.0)
    assert schedule.wait_s(10.0) is None
    assert schedule.noted(2, 11.0) is False  # already covered
