"""A running centre signs checkpoints of its ledger's head into the anchor file: after
so many entries, so long after an entry, at shutdown; never in the way of an append."""

from __future__ import annotations

import asyncio
import dataclasses
import logging
import re
import stat
import threading
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from console.anchor_files import append_anchor, last_anchor, load_public_keys, read_anchors
from console.checkpoints import Checkpoint, sign_checkpoint, signature_problem
from console.ledger import GENESIS_HASH, AuditAction, AuditRecord
from console.ledger_check import check_before_start, sign_with_key
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from tests.conftest import Running, start_centre
from tests.test_checkpoints import KEY, T0
from tests.test_cli import seat

LOGIN = AuditRecord(actor="alice", action=AuditAction.LOGIN)


@pytest.fixture
async def running(
    settings: Settings, store: SQLiteStore, request: pytest.FixtureRequest
) -> AsyncIterator[Running]:
    """A started centre, with the settings changed by the test's indirect parameter."""
    changes = getattr(request, "param", {})
    centre = await start_centre(dataclasses.replace(settings, **changes), store)
    assert centre.audit.anchoring is not None
    await centre.audit.anchoring.covered(1)  # started: the start entry is signed
    yield centre
    if not centre.task.done():
        await centre.stop()


def counts(settings: Settings) -> list[int]:
    return [item.checkpoint.count for item in read_anchors(settings.anchor_file).anchored]


@pytest.mark.parametrize(
    "running", [{"audit_anchor_entries": 5, "audit_anchor_s": 3600}], indirect=True
)
async def test_centre_signs_a_checkpoint_after_every_n_entries(
    running: Running, settings: Settings, store: SQLiteStore
) -> None:
    """Five entries with SEAT_AUDIT_ANCHOR_ENTRIES=5: a checkpoint of the sixth entry's head."""
    assert running.audit.anchoring is not None
    for _ in range(5):
        await running.audit.record(LOGIN)
    await running.audit.anchoring.covered(6)
    last = last_anchor(settings.anchor_file).anchored[-1].checkpoint
    head = (await store.audit_page(1))[0]
    assert (last.count, last.head) == (6, head.hash)
    assert counts(settings) == [0, 1, 6]


@pytest.mark.parametrize(
    "running", [{"audit_anchor_entries": 1000, "audit_anchor_s": 0.05}], indirect=True
)
async def test_centre_signs_an_entry_every_s_after_it_with_no_more_coming(
    running: Running, settings: Settings
) -> None:
    """One entry and then silence: the time limit alone brings its checkpoint."""
    assert running.audit.anchoring is not None
    await running.audit.record(LOGIN)
    async with asyncio.timeout(30):
        await running.audit.anchoring.covered(2)
    assert counts(settings)[-1] == 2


@pytest.mark.parametrize(
    "running", [{"audit_anchor_entries": 1000, "audit_anchor_s": 3600}], indirect=True
)
async def test_centre_signs_what_it_wrote_at_shutdown(running: Running, settings: Settings) -> None:
    """Entries too few and too recent for a checkpoint are signed as the centre stops."""
    for _ in range(3):
        await running.audit.record(LOGIN)
    assert counts(settings) == [0, 1]
    await running.stop()
    assert counts(settings) == [0, 1, 4]


@pytest.mark.parametrize(
    "running", [{"audit_anchor_entries": 1, "audit_anchor_s": 3600}], indirect=True
)
async def test_an_anchor_file_that_cannot_be_written_does_not_stop_the_audit(
    running: Running, settings: Settings, store: SQLiteStore
) -> None:
    """Appends go on and are durable; the failure is logged at error level each time."""
    failed = asyncio.Event()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith("audit.anchor.failed"):
                failed.set()

    watch = Watch(logging.ERROR)
    logging.getLogger("seat.audit").addHandler(watch)
    try:
        settings.anchor_file.unlink()
        settings.anchor_file.mkdir()  # appending to it now fails
        entry = await running.audit.record(LOGIN)
        async with asyncio.timeout(30):
            await failed.wait()
    finally:
        logging.getLogger("seat.audit").removeHandler(watch)
    assert entry.seq == 2
    assert (await store.audit_page(1))[0].hash == entry.hash


async def test_the_key_is_the_owners_alone_and_the_start_names_it(
    running: Running, settings: Settings, store: SQLiteStore
) -> None:
    """The private key is mode 0600; the public key beside it is the one the start
    entry names and every checkpoint is signed with."""
    assert stat.S_IMODE(settings.audit_key.stat().st_mode) == 0o600
    (public,) = load_public_keys([settings.audit_public_key])
    started = (await store.audit_page(1))[0]
    assert started.action is AuditAction.CENTRE_STARTED
    assert started.detail["anchor_key"] == public
    assert {item.checkpoint.key for item in read_anchors(settings.anchor_file).anchored} == {public}


def test_serve_fails_at_start_when_the_anchor_file_cannot_be_written(tmp_path: Path) -> None:
    """A mistyped SEAT_AUDIT_ANCHOR stops the start with the reason, not a day later."""
    anchor = tmp_path / "no-such-dir" / "anchors.jsonl"
    result = seat(
        tmp_path,
        "serve",
        env={"SEAT_PORT": "0", "SEAT_AUDIT_ANCHOR": str(anchor), "SEAT_LOG_LEVEL": "INFO"},
    )
    assert result.returncode == 3  # uvicorn's code for a failed start
    assert f"No such file or directory: '{anchor}'" in result.stderr
    assert result.stderr.rstrip().endswith("Application startup failed. Exiting.")


def test_a_torn_last_line_is_skipped_and_the_next_checkpoint_starts_a_new_line(
    tmp_path: Path,
) -> None:
    """A crash mid-line leaves a fragment; it is reported, and costs no checkpoint."""
    anchor = tmp_path / "anchors.jsonl"
    first, second = (sign_checkpoint(KEY, n, f"{n:064x}", T0) for n in (1, 2))
    append_anchor(anchor, first)
    with anchor.open("a") as file:
        file.write(second.to_line()[:40])  # the power went mid-write
    assert last_anchor(anchor).anchored[-1].checkpoint == first
    append_anchor(anchor, second)
    lines = read_anchors(anchor)
    assert [item.checkpoint for item in lines.anchored] == [first, second]
    assert lines.skipped == [f"{anchor} line 2: not a checkpoint (not JSON)"]


def test_the_last_checkpoint_is_found_from_the_end_of_a_long_file(tmp_path: Path) -> None:
    """Hundreds of lines, a damaged one at the end: the last good checkpoint is read
    back from the end, and the damaged line named by its byte offset."""
    anchor = tmp_path / "anchors.jsonl"
    for n in range(1, 300):
        append_anchor(anchor, sign_checkpoint(KEY, n, f"{n:064x}", T0))
    offset = anchor.stat().st_size
    with anchor.open("a") as file:
        file.write('{"count":"broken"}\n')
    found = last_anchor(anchor)
    assert [item.checkpoint.count for item in found.anchored] == [299]
    assert found.skipped == [
        f"{anchor} byte {offset}: not a checkpoint (not a checkpoint: "
        "members must be ['at', 'count', 'head', 'key', 'sig', 'type'])"
    ]


def test_a_bad_anchor_setting_is_named(tmp_path: Path) -> None:
    """SEAT_AUDIT_ANCHOR_ENTRIES below 1 is refused by name."""
    result = seat(tmp_path, "audit", "verify", env={"SEAT_AUDIT_ANCHOR_ENTRIES": "0"})
    assert (result.returncode, result.stderr.strip()) == (
        2,
        "seat: SEAT_AUDIT_ANCHOR_ENTRIES must be at least 1",
    )


def test_receipt_is_one_line_signed_by_the_centres_key(tmp_path: Path) -> None:
    """`seat audit checkpoint` prints the signed head; the public key verifies it."""
    assert seat(tmp_path, "lanes", "add", "P1", "--name", "一", "--car-park", "人民路",
                "--direction", "entry").returncode == 0  # fmt: skip
    receipt = seat(tmp_path, "audit", "checkpoint")
    assert receipt.returncode == 0
    checkpoint = Checkpoint.parse(receipt.stdout.removesuffix("\n"))
    assert checkpoint.count == 1
    keys = load_public_keys([tmp_path / "audit-key.pub"])
    assert signature_problem(checkpoint, keys) is None
    assert re.fullmatch(
        rf"signed 1 entries \(key {checkpoint.key}\), appended to {tmp_path}/audit-anchors.jsonl\n",
        receipt.stderr,
    )


def test_a_check_never_finds_the_key_without_its_first_checkpoint(settings: Settings) -> None:
    """A first signing makes the key and then appends its checkpoint; a check in
    another process (threads here: ``flock`` is per open file) reading in between
    would call the checkpoints lost and refuse the ledger. Checked over and over while
    the key is made, no check finds that."""
    done = threading.Event()
    faults: list[str] = []

    def check() -> None:
        while not done.is_set():
            fault = check_before_start(settings).fault
            if fault is not None:
                faults.append(fault.problem)

    checker = threading.Thread(target=check)
    checker.start()
    try:
        _, checkpoint = sign_with_key(settings, 0, GENESIS_HASH, datetime.now(UTC))
    finally:
        done.set()
        checker.join()
    assert faults == []
    assert last_anchor(settings.anchor_file).anchored[-1].checkpoint == checkpoint
    assert check_before_start(settings).fault is None
