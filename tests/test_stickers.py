"""Help stickers against a real store, the real `seat` command and a running centre:
one shared key, a serial per lane that revoking bumps, and a centre that refuses a
replaced sticker as soon as the command has run."""

from __future__ import annotations

import asyncio
import re
import sqlite3
from collections.abc import AsyncIterator
from contextlib import closing
from pathlib import Path

import pytest

from console.errors import NotFound
from console.models import ChangeKind, Direction, LaneRecord
from console.settings import Settings
from console.sqlite_schema import _MIGRATIONS, LANE_COLUMNS
from console.sqlite_store import SQLiteStore
from console.sticker_format import StickerFormat
from console.sticker_token import Refusal, StickerClaim, StickerRefused
from console.stickers import Issuer, check_sticker, print_sticker, sticker_key
from console.store import Store
from tests.conftest import Centre, LaneFactory
from tests.qr import qr_url
from tests.test_cli import seat

BASE = "https://seat.example.com"
KEY_HEX = "00112233445566778899aabbccddeeff" * 2
P1 = LaneRecord("P1-OUT", "人民路 出口", "人民路停车场", Direction.EXIT, "hash")


@pytest.fixture
async def store(tmp_path: Path) -> AsyncIterator[SQLiteStore]:
    opened = await SQLiteStore.open(tmp_path / "seat.db")
    yield opened
    await opened.close()


def token_of(url: str) -> str:
    return url.removeprefix(f"{BASE}/help/")


async def refusal(store: Store, token: str) -> Refusal:
    key = await store.get_sticker_key()
    assert key is not None
    with pytest.raises(StickerRefused) as refused:
        await check_sticker(store, key, token)
    return refused.value.reason


# ------------------------------------------------------------------ the store


async def test_the_key_is_made_once_when_two_processes_race_for_it(tmp_path: Path) -> None:
    """Two stores on one file both ask for the key before there is one: both end with
    the same 32 bytes, which is the one stored."""
    first = await SQLiteStore.open(tmp_path / "seat.db")
    second = await SQLiteStore.open(tmp_path / "seat.db")
    try:
        keys = await asyncio.gather(
            sticker_key(first, Settings()),
            sticker_key(second, Settings()),
            first.add_sticker_key(bytes(32)),
            second.add_sticker_key(bytes(range(32))),
        )
        assert len(set(keys)) == 1 and len(keys[0]) == 32
        assert await first.get_sticker_key() == await second.get_sticker_key() == keys[0]
    finally:
        await first.close()
        await second.close()


async def test_seat_sticker_key_is_used_instead_of_the_stored_one(store: SQLiteStore) -> None:
    """An operator's key from the environment is taken as it is, and none is stored."""
    settings = Settings.from_env({"SEAT_STICKER_KEY": KEY_HEX})
    assert await sticker_key(store, settings) == bytes.fromhex(KEY_HEX)
    assert await store.get_sticker_key() is None
    assert KEY_HEX not in repr(settings) and "\\x00\\x11" not in repr(settings)


async def test_a_revoke_bumps_the_serial_and_is_a_change_to_the_lane(store: SQLiteStore) -> None:
    """Serials start at 1; each bump is recorded in the change feed as the lane's."""
    await store.put_lane(P1)
    assert await store.sticker_serial("P1-OUT") == 1
    head = await store.change_head()
    assert await store.bump_sticker_serial("P1-OUT") == 2
    assert await store.sticker_serial("P1-OUT") == 2
    changes = await store.changes_since(head)
    assert [(c.kind, c.subject) for c in changes] == [(ChangeKind.LANE, "P1-OUT")]


async def test_an_unknown_lane_has_no_serial_and_cannot_be_revoked(store: SQLiteStore) -> None:
    """Nothing is created, nothing is recorded."""
    head = await store.change_head()
    assert await store.sticker_serial("ghost") is None
    with pytest.raises(NotFound):
        await store.bump_sticker_serial("ghost")
    assert await store.changes_since(head) == []


async def test_rotating_a_lanes_token_keeps_its_stickers_revoked(store: SQLiteStore) -> None:
    """`seat lanes add` on an existing lane leaves the serial alone: a replaced sticker
    does not come back to life."""
    await store.put_lane(P1)
    await store.bump_sticker_serial("P1-OUT")
    await store.put_lane(LaneRecord("P1-OUT", "新名字", "人民路停车场", Direction.EXIT, "new"))
    assert await store.sticker_serial("P1-OUT") == 2


async def test_lanes_of_an_older_database_get_their_first_sticker(tmp_path: Path) -> None:
    """A database from before stickers is upgraded; its lanes start at serial 1."""
    path = tmp_path / "seat.db"
    with closing(sqlite3.connect(path)) as conn:
        for statement in (s for step in _MIGRATIONS[:2] for s in step):
            conn.execute(statement)
        conn.execute(f"INSERT INTO lanes ({LANE_COLUMNS}) VALUES ('P1-OUT', 'n', 'p', 'exit', 'h')")
        conn.execute("PRAGMA user_version = 2")
        conn.commit()
    upgraded = await SQLiteStore.open(path)
    try:
        assert await upgraded.sticker_serial("P1-OUT") == 1
        assert await upgraded.get_sticker_key() is None
    finally:
        await upgraded.close()


# ------------------------------------------------------------------ settings


@pytest.mark.parametrize(
    ("env", "problem"),
    [
        ({"SEAT_PUBLIC_URL": "seat.example.com"}, "SEAT_PUBLIC_URL"),
        ({"SEAT_PUBLIC_URL": "ftp://seat.example.com"}, "SEAT_PUBLIC_URL"),
        ({"SEAT_PUBLIC_URL": "https://seat.example.com/?a=1"}, "SEAT_PUBLIC_URL"),
        ({"SEAT_PUBLIC_URL": "https://seat example.com"}, "SEAT_PUBLIC_URL"),
        ({"SEAT_STICKER_KEY": "not hex"}, "SEAT_STICKER_KEY"),
        ({"SEAT_STICKER_KEY": "00" * 31}, "SEAT_STICKER_KEY"),
    ],
)
def test_a_bad_public_url_or_sticker_key_is_named(env: dict[str, str], problem: str) -> None:
    """The variable is named; a key's value is never echoed."""
    with pytest.raises(ValueError, match=problem) as refused:
        Settings.from_env(env)
    assert "00" * 31 not in str(refused.value)


def test_the_public_url_is_a_base_without_its_trailing_slash() -> None:
    """A path prefix is kept, so the centre may sit below one on a shared host."""
    settings = Settings.from_env({"SEAT_PUBLIC_URL": " https://example.com/seat/ "})
    assert settings.public_url == "https://example.com/seat"


# ------------------------------------------------------------------ printing


async def test_the_console_gets_the_current_sticker_as_a_pdf(store: SQLiteStore) -> None:
    """What a supervisor would download: the lane's current sticker, nothing revoked,
    and its making in the ledger."""
    await store.put_lane(P1)
    settings = Settings(public_url=BASE)
    printed = await print_sticker(
        store, settings, "P1-OUT", StickerFormat.PDF, Issuer("sue", store.append)
    )
    assert printed.data.startswith(b"%PDF-")
    assert printed.sticker.serial == 1 and await store.sticker_serial("P1-OUT") == 1
    key = await sticker_key(store, settings)
    claim = await check_sticker(store, key, token_of(printed.sticker.url))
    assert claim == StickerClaim("P1-OUT", 1)
    [issued] = await store.audit_page(1)
    assert (issued.action, issued.actor, issued.lane) == ("sticker_issued", "sue", "P1-OUT")


def test_the_cli_sticker_reads_back_and_a_revoke_replaces_it(tmp_path: Path) -> None:
    """`seat lanes sticker` writes a PNG whose QR code is a working help URL; with
    --revoke it says so, the old sticker stops working and the new one works."""
    lane = ["P1-OUT", "--name", "人民路 出口", "--car-park", "人民路停车场"]
    assert seat(tmp_path, "lanes", "add", *lane, "--direction", "exit").returncode == 0
    first = seat(
        tmp_path, "lanes", "sticker", "P1-OUT", "--out", str(tmp_path / "a.png"),
        env={"SEAT_PUBLIC_URL": BASE},
    )  # fmt: skip
    assert first.returncode == 0, first.stderr
    old = token_of(qr_url((tmp_path / "a.png").read_bytes()))

    second = seat(
        tmp_path, "lanes", "sticker", "P1-OUT", "--revoke", "--format", "pdf",
        "--out", str(tmp_path / "b.pdf"), "--base-url", BASE,
    )  # fmt: skip
    assert second.returncode == 0, second.stderr
    assert "revoked every earlier sticker of lane P1-OUT" in second.stdout
    assert (tmp_path / "b.pdf").read_bytes().startswith(b"%PDF-")
    printed = re.search(r"https://\S+", second.stdout)
    assert printed is not None
    new = token_of(printed.group())

    async def check() -> None:
        store = await SQLiteStore.open(tmp_path / "seat.db")
        try:
            key = await store.get_sticker_key()
            assert key is not None
            assert await check_sticker(store, key, new) == StickerClaim("P1-OUT", 2)
            assert await refusal(store, old) is Refusal.REVOKED
            revoked, issued = (await store.audit_page(2))[::-1]
            assert (revoked.action, revoked.lane) == ("sticker_revoked", "P1-OUT")
            assert revoked.detail == {"serial": 2} and revoked.actor.startswith("cli")
            assert (issued.action, issued.lane, issued.actor) == (
                "sticker_issued",
                "P1-OUT",
                revoked.actor,
            )
            assert issued.detail == {"serial": 2, "format": "pdf", "base_url": BASE}
        finally:
            await store.close()

    asyncio.run(check())


async def test_a_running_centre_refuses_a_revoked_sticker_and_keeps_the_lane(
    centre: Centre, lanes: LaneFactory, settings: Settings
) -> None:
    """A revoke made by the CLI reaches the running centre through the change feed as a
    change to the lane: the old sticker is refused, and the lane's link stays up (its
    token did not change)."""
    await lanes("P1-OUT")
    out = str(settings.data_dir / "s.png")
    base = ["lanes", "sticker", "P1-OUT", "--base-url", BASE, "--out", out]
    assert (await asyncio.to_thread(seat, settings.data_dir, *base)).returncode == 0
    old = token_of(qr_url(await asyncio.to_thread(Path(out).read_bytes)))
    head = await centre.store.change_head()

    revoked = await asyncio.to_thread(seat, settings.data_dir, *base, "--revoke")
    assert revoked.returncode == 0, revoked.stderr
    changes = await centre.store.changes_since(head)
    assert [(c.kind, c.subject) for c in changes] == [(ChangeKind.LANE, "P1-OUT")]
    await centre.changes.poll()  # the centre's next read of the change feed
    assert await refusal(centre.store, old) is Refusal.REVOKED
    key = await centre.store.get_sticker_key()
    assert key is not None
    new = token_of(qr_url(await asyncio.to_thread(Path(out).read_bytes)))
    assert await check_sticker(centre.store, key, new) == StickerClaim("P1-OUT", 2)
    assert centre.hub.status("P1-OUT").online


def test_without_a_public_url_the_cli_says_what_to_set_and_writes_nothing(
    tmp_path: Path,
) -> None:
    """No sticker with a guessed address: the operator is told of SEAT_PUBLIC_URL and
    --base-url, and neither the sticker nor a database is written."""
    result = seat(tmp_path, "lanes", "sticker", "P1-OUT", env={"SEAT_PUBLIC_URL": ""})
    assert result.returncode != 0
    assert "SEAT_PUBLIC_URL" in result.stderr and "--base-url" in result.stderr
    assert list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("revoke", [[], ["--revoke"]])
def test_a_sticker_for_an_unknown_lane_fails_and_writes_nothing(
    tmp_path: Path, revoke: list[str]
) -> None:
    """The lane is named as unknown; no file appears."""
    out = tmp_path / "ghost.png"
    result = seat(
        tmp_path, "lanes", "sticker", "ghost", "--base-url", BASE, "--out", str(out), *revoke
    )
    assert result.returncode == 2
    assert "unknown_lane" in result.stderr and "ghost" in result.stderr
    assert not out.exists()
