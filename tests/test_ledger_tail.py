"""The ledger's tail against a real SQLite file: cut, damaged, rewritten or replaced, it
is caught by the signed checkpoints, and the examiner changes no file."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
from pathlib import Path

from console.anchor_files import append_anchor, load_public_keys
from console.checkpoints import sign_checkpoint
from console.ledger import AuditAction, AuditRecord, StoredEntry, parse_utc, seal
from console.ledger_check import check_before_start
from console.settings import Settings
from console.sqlite_reader import LedgerReader, read_ledger
from console.sqlite_schema import AUDIT_COLUMNS
from console.sqlite_store import SQLiteStore
from tests.test_checkpoints import OTHER, T0
from tests.test_cli import SEAT, seat

ENTRIES = 300
# A centre's run as it really writes: the ledger through the store, checkpoints through
# the anchoring (every 100 entries), the last at shutdown; then the power goes before
# SQLite folds the WAL into seat.db, which is how a centre leaves its files any time it
# is killed.
CENTRE_THEN_POWER_CUT = """
import asyncio, os, sys
from pathlib import Path
from console.anchoring import Anchoring
from console.audit import AuditLog
from console.anchor_files import append_anchor, load_public_keys
from console.checkpoints import sign_checkpoint
from console.ledger import AuditAction, AuditRecord
from console.settings import Settings
from console.sqlite_store import SQLiteStore

async def main() -> None:
    settings = Settings(data_dir=Path(sys.argv[1]), audit_anchor_entries=100)
    store = await SQLiteStore.open(settings.database)
    audit = AuditLog(store, Anchoring(store, settings))
    await audit.start()
    for n in range(int(sys.argv[2])):
        await audit.record(AuditRecord(actor="alice", action=AuditAction.LOGIN, detail={"n": n}))
    await audit.close()
    os._exit(0)

asyncio.run(main())
"""
# A centre started and stopped over and over: each start writes, each stop deletes the
# WAL and -shm. Says "started" after the first.
START_AND_STOP = """
import sys
from pathlib import Path
from console.sqlite_schema import open_connection

path = Path(sys.argv[1])
first = True
while True:
    conn = open_connection(path, writer=True)
    conn.execute("INSERT INTO changes (kind, subject) VALUES ('lane', 'P1')")
    conn.close()
    if first:
        print("started", flush=True)
        first = False
"""
CUT = re.compile(
    r"bad entry (\d+): the ledger ends at entry (\d+), but the checkpoint at \S+ line \d+ "
    r"\(signed [0-9T:.Z-]+\) covers (\d+) entries, the last with hash [0-9a-f]{64}"
)


def run_centre(data_dir: Path, entries: int = ENTRIES) -> int:
    """A centre's run that ends in a power cut; returns how many entries it wrote."""
    subprocess.run([sys.executable, "-c", CENTRE_THEN_POWER_CUT, str(data_dir), str(entries)],
                   check=True, timeout=120)  # fmt: skip
    assert (data_dir / "seat.db-wal").stat().st_size > 0
    return entries + 1  # and the centre's start


def files(data_dir: Path) -> dict[str, tuple[int, int, str]]:
    """Every file's size, mtime and SHA-256."""
    return {
        path.name: (
            path.stat().st_size,
            path.stat().st_mtime_ns,
            hashlib.sha256(path.read_bytes()).hexdigest(),
        )
        for path in sorted(data_dir.iterdir())
        if path.is_file()
    }


def flip_a_byte_mid_wal(data_dir: Path) -> None:
    """A damaged frame: SQLite ignores it and every frame after it."""
    wal = data_dir / "seat.db-wal"
    data = bytearray(wal.read_bytes())
    page_size = int.from_bytes(data[8:12], "big")
    frames = (len(data) - 32) // (24 + page_size)
    data[32 + frames // 2 * (24 + page_size) + 24 + 100] ^= 0x01
    wal.write_bytes(bytes(data))


def cut_wal(data_dir: Path) -> None:
    wal = data_dir / "seat.db-wal"
    os.truncate(wal, wal.stat().st_size * 45 // 100)


def test_verify_names_what_a_truncated_wal_cut_off(tmp_path: Path) -> None:
    """A WAL cut short drops the newest entries; verify names the first one missing and
    the checkpoint that signed them."""
    written = run_centre(tmp_path)
    cut_wal(tmp_path)
    result = seat(tmp_path, "audit", "verify")
    assert result.returncode == 1, result.stdout
    found = CUT.match(result.stdout)
    assert found is not None, result.stdout
    bad, end, _ = map(int, found.groups())
    assert bad == end + 1 and end < written
    assert f"covers {written} entries" in result.stdout


def test_verify_names_what_a_damaged_wal_frame_cut_off(tmp_path: Path) -> None:
    """One flipped byte in a WAL frame loses that frame and all after it: a cut tail."""
    written = run_centre(tmp_path)
    flip_a_byte_mid_wal(tmp_path)
    result = seat(tmp_path, "audit", "verify")
    assert result.returncode == 1, result.stdout
    found = CUT.match(result.stdout)
    assert found is not None, result.stdout
    assert int(found.group(2)) < written
    assert f"covers {written} entries" in result.stdout


def test_verify_of_an_intact_ledger_says_ok_and_which_checkpoint_vouches(tmp_path: Path) -> None:
    """Untouched, the same files verify: every entry, the newest checkpoint at the end."""
    written = run_centre(tmp_path)
    result = seat(tmp_path, "audit", "verify")
    lines = result.stdout.splitlines()
    assert (result.returncode, lines[0]) == (0, f"ok {written} entries")
    assert re.fullmatch(rf"\d+ checkpoints match; the newest covers {written} entries .*", lines[1])


def test_verify_changes_no_file_of_a_centre_that_lost_power(tmp_path: Path) -> None:
    """The WAL, its index and the database keep their bytes and times: nothing is
    checkpointed, recovered into the file or created."""
    run_centre(tmp_path)
    flip_a_byte_mid_wal(tmp_path)
    before = files(tmp_path)
    assert {"seat.db", "seat.db-wal", "seat.db-shm"} <= set(before)
    assert seat(tmp_path, "audit", "verify").returncode == 1
    assert files(tmp_path) == before


def test_verify_of_a_closed_ledger_creates_no_wal_or_shm(tmp_path: Path) -> None:
    """A ledger closed cleanly is one file; verifying it leaves it one file."""
    assert seat(tmp_path, "lanes", "add", "P1", "--name", "一", "--car-park", "人民路",
                "--direction", "entry").returncode == 0  # fmt: skip
    before = files(tmp_path)
    assert not {"seat.db-wal", "seat.db-shm"} & set(before)
    result = seat(tmp_path, "audit", "verify")
    assert result.stdout.splitlines()[0] == "ok 1 entries"
    assert files(tmp_path) == before


def test_verify_of_a_missing_ledger_creates_nothing(tmp_path: Path) -> None:
    """No ledger is an error, and leaves no empty database behind."""
    result = seat(tmp_path / "nowhere", "audit", "verify")
    assert result.returncode == 2 and "no ledger at" in result.stderr
    assert not (tmp_path / "nowhere").exists()


def test_verify_reads_a_wal_copied_without_its_shm(tmp_path: Path) -> None:
    """Files copied elsewhere without ``-shm`` still verify whole, and gain no ``-shm``."""
    written = run_centre(tmp_path / "centre")
    copy = tmp_path / "copy"
    copy.mkdir()
    for name in ("seat.db", "seat.db-wal", "audit-anchors.jsonl", "audit-key.pub"):
        shutil.copy2(tmp_path / "centre" / name, copy / name)
    before = files(copy)
    result = seat(copy, "audit", "verify")
    assert result.stdout.splitlines()[0] == f"ok {written} entries"
    assert files(copy) == before


async def test_verify_reads_a_running_centres_ledger_while_it_writes(tmp_path: Path) -> None:
    """A snapshot while entries keep coming: every entry it holds verifies."""
    store = await SQLiteStore.open(tmp_path / "seat.db")
    stop = asyncio.Event()

    async def keep_writing() -> None:
        while not stop.is_set():
            await store.append(AuditRecord(actor="alice", action=AuditAction.LOGIN))

    for _ in range(50):
        await store.append(AuditRecord(actor="alice", action=AuditAction.LOGIN))
    writing = asyncio.create_task(keep_writing())
    try:
        verify = await asyncio.create_subprocess_exec(
            *SEAT, "audit", "verify", stdout=asyncio.subprocess.PIPE,
            env={**os.environ, "SEAT_DATA_DIR": str(tmp_path), "SEAT_LOG_LEVEL": "WARNING"},
        )  # fmt: skip
        out, _ = await verify.communicate()
    finally:
        stop.set()
        await writing
        await store.close()
    assert verify.returncode == 0
    found = re.match(r"ok (\d+) entries", out.decode())
    assert found is not None and int(found.group(1)) >= 50


def test_verify_names_a_tail_rewritten_with_fresh_hashes(tmp_path: Path) -> None:
    """Entry 150 changed and every later hash recomputed: the chain is whole again, but
    the checkpoints are not, and verify names the entries they no longer vouch for."""
    written = run_centre(tmp_path)
    db = sqlite3.connect(tmp_path / "seat.db", isolation_level=None)
    for (name,) in db.execute("SELECT name FROM sqlite_master WHERE type = 'trigger'").fetchall():
        db.execute(f"DROP TRIGGER {name}")
    rows = db.execute(f"SELECT {AUDIT_COLUMNS} FROM audit WHERE seq >= 149 ORDER BY seq").fetchall()
    prev = rows[0][-1]
    db.execute("BEGIN")
    for row in map(StoredEntry._make, rows[1:]):
        detail = '{"n":-1}' if row.seq == 150 else row.detail
        record = AuditRecord(
            actor=row.actor, action=AuditAction(row.action), detail=json.loads(detail)
        )
        forged = seal(prev, row.seq, parse_utc(row.at), record)
        db.execute(
            "UPDATE audit SET detail = ?, prev_hash = ?, hash = ? WHERE seq = ?",
            (detail, prev, forged.hash, row.seq),
        )
        prev = forged.hash
    db.execute("COMMIT")
    db.close()
    result = seat(tmp_path, "audit", "verify")
    assert result.returncode == 1
    found = re.match(
        r"bad entry (\d+): entry (\d+) has hash [0-9a-f]{64}, but the checkpoint at .* "
        r"the chain is whole, so entries (\d+)–(\d+) were rewritten or the file replaced",
        result.stdout,
    )
    assert found is not None, result.stdout
    first, at, _, _ = map(int, found.groups())
    assert first <= 150 <= at <= written


def test_verify_names_a_ledger_file_replaced_by_another(tmp_path: Path) -> None:
    """Another centre's ledger in its place matches none of this centre's checkpoints."""
    run_centre(tmp_path / "ours")
    run_centre(tmp_path / "theirs", entries=500)
    for suffix in ("", "-wal", "-shm"):
        shutil.copy2(
            tmp_path / "theirs" / f"seat.db{suffix}", tmp_path / "ours" / f"seat.db{suffix}"
        )
    result = seat(tmp_path / "ours", "audit", "verify")
    assert result.returncode == 1
    assert result.stdout.startswith("bad entry 1: entry 1 has hash ")


def test_serve_refuses_a_cut_ledger_and_leaves_its_files_alone(tmp_path: Path) -> None:
    """The centre will not start on a ledger that fails its check: it names the first
    missing entry and how to override, and writes nothing."""
    run_centre(tmp_path)
    cut_wal(tmp_path)
    before = files(tmp_path)
    result = seat(tmp_path, "serve", env={"SEAT_PORT": "0"})
    assert result.returncode == 2
    found = re.search(r"bad entry (\d+): the ledger ends at entry (\d+), but", result.stderr)
    assert found is not None, result.stderr
    assert f"seat serve --accept-bad-ledger {found.group(2)}" in result.stderr
    assert files(tmp_path) == before


def test_a_cli_change_is_refused_on_a_cut_ledger(tmp_path: Path) -> None:
    """Adding a user writes to the ledger, so it is refused the same way."""
    run_centre(tmp_path)
    cut_wal(tmp_path)
    before = files(tmp_path)
    result = seat(tmp_path, "lanes", "add", "P1", "--name", "一", "--car-park", "人民路",
                  "--direction", "entry")  # fmt: skip
    assert result.returncode == 2 and "ledger_bad" in result.stderr
    assert files(tmp_path) == before


async def start_serve(data_dir: Path, *args: str) -> tuple[asyncio.subprocess.Process, list[str]]:
    """``seat serve`` on a free port, once it has started; with the log lines so far."""
    serve = await asyncio.create_subprocess_exec(
        *SEAT, "serve", *args, stderr=asyncio.subprocess.PIPE,
        env={**os.environ, "SEAT_DATA_DIR": str(data_dir), "SEAT_PORT": "0",
             "SEAT_LOG_LEVEL": "INFO"},
    )  # fmt: skip
    assert serve.stderr is not None
    lines: list[str] = []
    async with asyncio.timeout(60):
        while "Application startup complete" not in (lines or [""])[-1]:
            line = await serve.stderr.readline()
            assert line, "seat serve exited:\n" + "".join(lines)
            lines.append(line.decode())
    return serve, lines


async def stop_serve(serve: asyncio.subprocess.Process) -> None:
    """Stops it as systemd does; uvicorn shuts down, then re-raises the signal."""
    serve.send_signal(signal.SIGTERM)
    _, rest = await serve.communicate()
    assert "Application shutdown complete" in rest.decode()
    assert serve.returncode == -signal.SIGTERM


def ledger_end(data_dir: Path) -> int:
    result = seat(data_dir, "audit", "verify")
    found = CUT.match(result.stdout)
    assert found is not None, result.stdout
    return int(found.group(2))


async def test_a_start_on_a_cut_ledger_the_operator_accepts_is_recorded(tmp_path: Path) -> None:
    """With --accept-bad-ledger and the count it stands at, the centre starts, logs an
    error and writes what was wrong into the ledger before anything else."""
    run_centre(tmp_path)
    cut_wal(tmp_path)
    end = ledger_end(tmp_path)
    serve, lines = await start_serve(tmp_path, "--accept-bad-ledger", str(end))
    await stop_serve(serve)
    assert any(
        f"ERROR seat.audit audit.ledger.fault_accepted entries={end} bad_seq={end + 1}" in line
        for line in lines
    )
    store = await SQLiteStore.open(tmp_path / "seat.db")
    try:
        accepted = (await store.audit_page(1, before_seq=end + 2))[0]
    finally:
        await store.close()
    assert (accepted.seq, accepted.action) == (end + 1, AuditAction.LEDGER_FAULT_ACCEPTED)
    assert str(accepted.detail["problem"]).startswith(f"the ledger ends at entry {end}, but")


async def test_after_an_accepted_start_the_cut_stays_visible_and_starts_go_on(
    tmp_path: Path,
) -> None:
    """Accepting is not forgetting: verify still names the cut, while the next start
    checks from the newest checkpoint, which the accepted start signed."""
    run_centre(tmp_path)
    cut_wal(tmp_path)
    serve, _ = await start_serve(tmp_path, "--accept-bad-ledger", str(ledger_end(tmp_path)))
    await stop_serve(serve)
    assert CUT.match(seat(tmp_path, "audit", "verify").stdout)
    serve, _ = await start_serve(tmp_path)
    await stop_serve(serve)


def test_a_receipt_kept_elsewhere_shows_a_cut_the_data_dir_no_longer_can(tmp_path: Path) -> None:
    """`seat audit checkpoint` prints a signed head; when the anchor file and key are
    removed with the tail, only that receipt (and the public key kept with it) tell."""
    data, elsewhere = tmp_path / "data", tmp_path / "elsewhere"
    written = run_centre(data)
    receipt = seat(data, "audit", "checkpoint")
    assert receipt.returncode == 0, receipt.stderr
    assert f'"count":{written},' in receipt.stdout
    elsewhere.mkdir()
    (elsewhere / "receipts.jsonl").write_text(receipt.stdout)
    shutil.copy2(data / "audit-key.pub", elsewhere / "audit-key.pub")

    cut_wal(data)
    for name in ("audit-anchors.jsonl", "audit-key.pem", "audit-key.pub"):
        (data / name).unlink()
    alone = seat(data, "audit", "verify")
    assert alone.returncode == 0
    assert "no checkpoint matched: entries cut from the end would not show" in alone.stdout

    told = seat(data, "audit", "verify", "--anchor", str(elsewhere / "receipts.jsonl"),
                "--public-key", str(elsewhere / "audit-key.pub"))  # fmt: skip
    assert told.returncode == 1
    found = CUT.match(told.stdout)
    assert found is not None and int(found.group(3)) == written


def test_a_lost_anchor_file_is_not_taken_for_a_ledger_never_signed(tmp_path: Path) -> None:
    """The key says checkpoints were written: without them, the start is refused and
    verify says bad, both naming the loss."""
    written = run_centre(tmp_path)
    (tmp_path / "audit-anchors.jsonl").unlink()
    serve = seat(tmp_path, "serve", env={"SEAT_PORT": "0"})
    assert serve.returncode == 2
    assert "holds no checkpoint, but the ledger has been signed" in serve.stderr
    assert f"seat serve --accept-bad-ledger {written}" in serve.stderr
    verify = seat(tmp_path, "audit", "verify")
    assert verify.returncode == 1
    assert "bad: " in verify.stdout and "the checkpoints are lost" in verify.stdout


def test_the_start_check_leaves_entries_before_the_newest_checkpoint_to_verify(
    tmp_path: Path,
) -> None:
    """An old entry edited in place is not recomputed at start (that is what keeps the
    start quick); `seat audit verify` names it."""
    run_centre(tmp_path)
    db = sqlite3.connect(tmp_path / "seat.db", isolation_level=None)
    db.execute("DROP TRIGGER audit_no_update")
    db.execute("""UPDATE audit SET detail = '{"n":-1}' WHERE seq = 10""")
    db.close()
    check = check_before_start(Settings(data_dir=tmp_path))
    assert check.fault is None and check.report.checked_from == check.report.end
    verify = seat(tmp_path, "audit", "verify")
    assert verify.stdout.startswith("bad entry 10: hash mismatch")


async def test_a_centre_whose_key_is_gone_starts_only_when_told_and_then_signs_anew(
    tmp_path: Path,
) -> None:
    """Without its key the centre refuses; accepted, it makes a new one, and verify
    needs both public keys to vouch for every checkpoint."""
    written = run_centre(tmp_path)
    shutil.copy2(tmp_path / "audit-key.pub", tmp_path / "old.pub")
    (tmp_path / "audit-key.pem").unlink()
    refused = seat(tmp_path, "serve", env={"SEAT_PORT": "0"})
    assert refused.returncode == 2 and "but the signing key" in refused.stderr
    serve, _ = await start_serve(tmp_path, "--accept-bad-ledger", str(written))
    await stop_serve(serve)
    new_only = seat(tmp_path, "audit", "verify")
    assert new_only.returncode == 1 and "which is not a known key" in new_only.stdout
    both = seat(tmp_path, "audit", "verify", "--public-key", str(tmp_path / "old.pub"),
                "--public-key", str(tmp_path / "audit-key.pub"))  # fmt: skip
    assert both.stdout.splitlines()[0] == f"ok {written + 2} entries"


def test_the_start_refuses_a_newest_checkpoint_it_did_not_sign(tmp_path: Path) -> None:
    """A checkpoint appended by someone without the centre's key stops the start."""
    written = run_centre(tmp_path)
    forged = sign_checkpoint(OTHER, written, "0" * 63 + "1", T0)
    append_anchor(tmp_path / "audit-anchors.jsonl", forged)
    check = check_before_start(Settings(data_dir=tmp_path))
    assert check.fault is not None and check.fault.bad_seq is None
    assert check.fault.problem.endswith(
        f"signed by key {forged.key}, which is not a known key "
        f"(known: {load_public_keys([tmp_path / 'audit-key.pub']).popitem()[0]})"
    )


def test_a_read_goes_on_while_a_centre_starts_and_stops_again_and_again(
    tmp_path: Path,
) -> None:
    """Each stop folds the WAL into the file and deletes it and the ``-shm``, each start
    makes them again: a read chosen for the files that were there when it began, and
    that could not open the ones there when it did, chooses again instead of failing.
    The centre is another process, as it is for ``seat audit verify`` (within one
    process SQLite shares the ``-shm`` a read-only reader opened with the writer)."""
    path = tmp_path / "seat.db"
    entries = run_centre(tmp_path, 20)
    command = [sys.executable, "-c", START_AND_STOP, str(path)]
    with subprocess.Popen(command, stdout=subprocess.PIPE, text=True) as centre:
        try:
            assert centre.stdout is not None and centre.stdout.readline() == "started\n"
            ends = [read_ledger(path, LedgerReader.end) for _ in range(300)]
            assert centre.poll() is None  # still starting and stopping: it never failed
        finally:
            centre.kill()
    assert set(ends) == {entries}
