"""The store's change feed and the centre's directory built on it, against a real
SQLite file: what each change records, and what the directory then forgets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.directory import Directory
from console.models import ChangeKind, ChangesLost, Direction, LaneRecord, Role, Session
from console.sqlite_store import SQLiteStore
from tests.conftest import StoreOpener

pytestmark = pytest.mark.both_stores

T0 = datetime(2026, 11, 28, 8, 0, tzinfo=UTC)


def session(token: str, username: str = "alice") -> Session:
    return Session(token, username, "csrf", T0, T0 + timedelta(hours=12))


def lane(token_hash: str) -> LaneRecord:
    return LaneRecord("P1-OUT", "人民路 出口", "人民路停车场", Direction.EXIT, token_hash)


async def test_each_change_another_centre_must_hear_of_is_recorded(store: SQLiteStore) -> None:
    """Account changes, ended sessions and lane changes are in the feed, in order;
    creating a session or a user is not (nothing held can be revoked by it)."""
    await store.add_user("alice", Role.AGENT, "hash", T0)
    await store.create_session(session("t1"))
    await store.create_session(session("t2"))
    head = await store.change_head()
    await store.set_role("alice", Role.SUPERVISOR)
    await store.delete_session("t1")
    await store.delete_session("t1")  # already gone: nothing changed
    await store.delete_user_sessions("alice")
    await store.put_lane(lane("h1"))
    changes = await store.changes_since(head)
    assert [(c.kind, c.subject) for c in changes] == [
        (ChangeKind.USER, "alice"),
        (ChangeKind.SESSION, "t1"),
        (ChangeKind.USER, "alice"),
        (ChangeKind.LANE, "P1-OUT"),
    ]
    assert [c.seq for c in changes] == list(range(head + 1, head + 5))
    assert await store.changes_since(changes[-1].seq) == []


async def test_a_reader_that_fell_behind_the_kept_changes_is_told(
    open_test_store: StoreOpener,
) -> None:
    """Changes are pruned; reading past the prune raises rather than skip silently."""
    store = await open_test_store(changes_kept=3)
    try:
        for n in range(6):
            await store.put_lane(lane(f"h{n}"))
        with pytest.raises(ChangesLost):
            await store.changes_since(1)
        assert len(await store.changes_since(await store.change_head() - 2)) == 2
    finally:
        await store.close()


async def test_directory_forgets_what_a_change_made_stale(store: SQLiteStore) -> None:
    """A cached session and user are read again after their account changed; a lane's
    new token is seen after its change."""
    await store.add_user("alice", Role.AGENT, "hash", T0)
    await store.create_session(session("t1"))
    await store.put_lane(lane("old"))
    directory = Directory(store)
    await directory.load()
    assert await directory.session("t1") is not None
    assert (await directory.user("alice")) is not None

    head = await store.change_head()
    await store.set_disabled("alice", True)
    await store.delete_user_sessions("alice")
    await store.put_lane(lane("new"))
    # Until the change is applied, the directory answers from memory...
    assert await directory.session("t1") is not None
    await directory.forget((c.kind, c.subject) for c in await store.changes_since(head))
    # ...and after, from the store.
    assert await directory.session("t1") is None
    user = await directory.user("alice")
    assert user is not None and user.disabled
    found = directory.known_lane("P1-OUT")
    assert found is not None and found.token_hash == "new"


async def test_directory_finds_a_lane_added_since_it_loaded(store: SQLiteStore) -> None:
    """A new lane's first hello is not refused while the change feed catches up."""
    directory = Directory(store)
    await directory.load()
    await store.put_lane(lane("h"))
    assert directory.known_lane("P1-OUT") is None
    found = await directory.lane("P1-OUT")
    assert found is not None and directory.lanes() == [found]


async def test_directory_does_not_remember_unknown_tokens(store: SQLiteStore) -> None:
    """A forged cookie is looked up, found wanting, and not kept."""
    directory = Directory(store)
    await directory.load()
    assert await directory.session("forged") is None
    await store.add_user("alice", Role.AGENT, "hash", T0)
    await store.create_session(session("forged"))
    assert await directory.session("forged") is not None
