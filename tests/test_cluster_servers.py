"""Which servers of a centre are alive, in a real Redis: each server's round keeps its
presence, every server lists the live ones, and a server that stops (or whose presence
lapses) is found gone by exactly one of those left."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import pytest

from console.cluster.redis_link import RedisLink
from console.cluster.servers import REGISTRY, ServerInfo, Servers, alive_key
from tests.services import RedisServer

TTL_S = 0.6


@pytest.fixture
async def links(redis_server: RedisServer) -> AsyncIterator[list[RedisLink]]:
    made = [RedisLink(redis_server.url, f"run-{n}") for n in range(3)]
    await made[0].client.delete(REGISTRY)  # other tests' servers, long gone
    yield made
    for link in made:
        await link.close()


async def rounds(servers: Servers, count: int) -> None:
    """Until ``servers`` has run ``count`` more rounds that reached Redis."""
    done: asyncio.Queue[None] = asyncio.Queue()

    async def counted() -> None:
        done.put_nowait(None)

    servers.after_each_round(counted)
    async with asyncio.timeout(10):
        for _ in range(count):
            await done.get()


async def test_the_live_servers_are_listed_with_their_names_and_starts(
    links: list[RedisLink],
) -> None:
    one = Servers(links[0], "centre-1", TTL_S)
    two = Servers(links[1], "centre-2", TTL_S)
    await one.start(7)
    await two.start(None)
    try:
        await rounds(one, 1)
        await rounds(two, 1)
        assert await one.live() == {
            "run-0": ServerInfo("run-0", "centre-1", 7),
            "run-1": ServerInfo("run-1", "centre-2", None),
        }
        assert 0 < await links[0].client.pttl(alive_key("run-0")) <= TTL_S * 1000
    finally:
        await one.close(5)
        await two.close(5)


async def test_a_server_that_stops_is_found_gone_by_exactly_one_of_the_others(
    links: list[RedisLink],
) -> None:
    gone: asyncio.Queue[tuple[str, ServerInfo]] = asyncio.Queue()
    servers = [Servers(link, f"centre-{n}", TTL_S) for n, link in enumerate(links)]
    for finder in servers[1:]:

        async def found(info: ServerInfo, by: str = finder.server) -> None:
            gone.put_nowait((by, info))

        finder.on_gone(found)
    for n, each in enumerate(servers):
        await each.start(n + 100)
    try:
        await asyncio.gather(*(rounds(each, 1) for each in servers))
        await servers[0].close(5)  # its key taken away: gone at the others' next round
        by, info = await asyncio.wait_for(gone.get(), 10)
        assert by in {"run-1", "run-2"} and info == ServerInfo("run-0", "centre-0", 100)
        assert set(await servers[1].live()) == {"run-1", "run-2"}
        assert not await links[1].client.hexists(REGISTRY, "run-0")
        # Several more rounds of both: no one learns it again.
        await asyncio.gather(rounds(servers[1], 3), rounds(servers[2], 3))
        assert gone.empty()
    finally:
        for each in servers[1:]:
            await each.close(5)


async def test_a_server_whose_presence_lapsed_is_alive_again_at_its_next_round(
    links: list[RedisLink],
) -> None:
    """Cut off from Redis longer than its presence lives (its key deleted here as its
    expiry would): found gone once; its next round makes it alive again."""
    gone: asyncio.Queue[ServerInfo] = asyncio.Queue()
    late = Servers(links[0], "centre-0", 60.0)
    finder = Servers(links[1], "centre-1", TTL_S)

    async def found(info: ServerInfo) -> None:
        gone.put_nowait(info)

    finder.on_gone(found)
    await late.renew()  # one round, and no more until the test's
    await finder.start(None)
    try:
        await rounds(finder, 1)
        assert set(await finder.live()) == {"run-0", "run-1"}
        await links[0].client.delete(alive_key("run-0"))
        assert (await asyncio.wait_for(gone.get(), 10)).server == "run-0"
        await late.renew()
        assert set(await finder.live()) == {"run-0", "run-1"}
        await rounds(finder, 2)
        assert gone.empty()
    finally:
        await finder.close(5)


@pytest.mark.parametrize(
    "raw",
    [
        b"not json",
        b"[]",
        b'{"name":"a","started":3}',  # an entry of before the envelope
        b'{"v":1,"kind":"server","from":"run-0","body":{"started":1}}',
        b'{"v":1,"kind":"server","from":"run-0","body":{"name":"a","started":true}}',
        b'{"v":1,"kind":"server","from":"run-0","body":{"name":"a"}}',
        b'{"v":1,"kind":"server","from":"run-9","body":{"name":"a","started":3}}',
        b'{"v":1,"kind":"lane_status","from":"run-0","body":{"name":"a","started":3}}',
        b"\xff",
    ],
)
def test_an_entry_this_code_did_not_write_is_refused(raw: bytes) -> None:
    with pytest.raises(ValueError):
        ServerInfo.decode("run-0", raw)
    written = ServerInfo("run-0", "a", 3).encode()
    assert written == b'{"v":1,"kind":"server","from":"run-0","body":{"name":"a","started":3}}'
    assert ServerInfo.decode("run-0", written) == ServerInfo("run-0", "a", 3)
