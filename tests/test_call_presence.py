"""Console tabs counted per server in a real Redis: another server sees them while
their server lives, not once it closed them, left, or stopped renewing them."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from console.calls.presence import SERVERS, SharedTabs, Tabs, tabs_key
from console.cluster.redis_link import RedisLink
from tests.services import RedisServer


@pytest.fixture
async def links(redis_server: RedisServer) -> AsyncIterator[tuple[RedisLink, RedisLink]]:
    one, two = RedisLink(redis_server.url, "one"), RedisLink(redis_server.url, "two")
    yield one, two
    await one.close()
    await two.close()


def test_a_server_counts_its_own_tabs() -> None:
    tabs = Tabs()
    assert tabs.opened("alice") and not tabs.opened("alice")
    assert tabs.counts() == {"alice": 2}
    assert not tabs.closed("alice") and "alice" in tabs
    assert tabs.closed("alice") and "alice" not in tabs and tabs.counts() == {}


async def test_tabs_open_on_another_server_are_seen_until_closed(
    links: tuple[RedisLink, RedisLink],
) -> None:
    one, two = links
    mine, theirs = Tabs(), Tabs()
    here, there = SharedTabs(one, mine, 30.0), SharedTabs(two, theirs, 30.0)
    theirs.opened("alice")
    await there.mirror("alice")
    mine.opened("bob")
    await here.mirror("bob")
    assert await here.elsewhere({"alice", "bob"}) == {"alice"}  # bob's tab is here
    assert await there.elsewhere() == {"bob"}
    theirs.closed("alice")
    await there.mirror("alice")
    assert await here.elsewhere({"alice"}) == set()
    await here.leave()
    assert await there.elsewhere() == set()
    assert b"one" not in await one.client.smembers(SERVERS)


async def test_a_server_whose_tabs_expired_is_gone_until_it_renews_them(
    links: tuple[RedisLink, RedisLink],
) -> None:
    """Its tabs live ``ttl_s`` past its last write; once they are gone (deleted here as
    their expiry would) it leaves the list of servers, and comes back with its next
    renewal (one alive but late)."""
    one, two = links
    theirs = Tabs()
    here, there = SharedTabs(one, Tabs(), 30.0), SharedTabs(two, theirs, 0.5)
    theirs.opened("alice")
    await there.mirror("alice")
    assert await here.elsewhere() == {"alice"}
    key = tabs_key("two")
    assert 0 < await one.client.pttl(key) <= 500
    await one.client.delete(key)
    assert await here.elsewhere() == set()
    assert b"two" not in await one.client.smembers(SERVERS)
    await there.renew()
    assert await here.elsewhere() == {"alice"}
    assert 0 < await one.client.pttl(key) <= 500
