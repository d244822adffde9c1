"""Console tabs counted per server in a real Redis: another server sees them while
their server lives (its presence, ``console.cluster.servers``), not once it closed
them, left, or its presence lapsed."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from console.calls.presence import SharedTabs, Tabs, tabs_key
from console.cluster.redis_link import RedisLink
from console.cluster.servers import REGISTRY, Servers, alive_key
from tests.services import RedisServer


@pytest.fixture
async def links(redis_server: RedisServer) -> AsyncIterator[tuple[RedisLink, RedisLink]]:
    one, two = RedisLink(redis_server.url, "one"), RedisLink(redis_server.url, "two")
    yield one, two
    await one.close()
    await two.close()


async def present(link: RedisLink, ttl_s: float = 30.0) -> Servers:
    """The server of ``link``, alive: its first round written (the rounds that follow
    are the test's to run, none runs by itself)."""
    servers = Servers(link, link.server, ttl_s)
    await servers.renew()
    return servers


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
    here, there = (
        SharedTabs(one, mine, await present(one)),
        SharedTabs(two, theirs, await present(two)),
    )
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
    assert not await one.client.exists(tabs_key("one"))


async def test_the_tabs_of_a_server_whose_presence_lapsed_count_again_at_its_next_round(
    links: tuple[RedisLink, RedisLink],
) -> None:
    """Its presence lapsed (deleted here as its expiry would): its tabs stop counting,
    though its hash is still there; its next round makes them count again. The hash
    lives as long as a presence, so a dead server's goes too."""
    one, two = links
    theirs = Tabs()
    two_servers = await present(two, 0.5)
    here, there = SharedTabs(one, Tabs(), await present(one)), SharedTabs(two, theirs, two_servers)
    theirs.opened("alice")
    await there.mirror("alice")
    assert await here.elsewhere() == {"alice"}
    assert 0 < await one.client.pttl(tabs_key("two")) <= 500
    await one.client.delete(alive_key("two"))
    assert await one.client.hexists(REGISTRY, "two")
    assert await here.elsewhere() == set()
    await two_servers.renew()
    assert await here.elsewhere() == {"alice"}
