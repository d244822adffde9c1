"""Two servers of one centre start on one store and one Redis, and each is linked."""

from __future__ import annotations

import asyncio

from console.models import Role
from tests.conftest import Centre
from tests.services import RedisServer


async def test_two_servers_share_the_store_and_each_is_linked_to_redis(
    cluster: list[Centre],
) -> None:
    first, second = cluster
    assert first.url != second.url
    await first.add_user("amy", Role.AGENT)
    await second.changes.poll()
    async with second.client("amy") as client:  # the account made through the first
        assert (await client.get("/api/me")).status_code == 200
    links = [centre.redis for centre in cluster if centre.redis is not None]
    assert len(links) == 2
    async with asyncio.timeout(10):
        await asyncio.gather(*(link.wait_up() for link in links))
    assert links[0].server != links[1].server


async def test_a_server_that_cannot_reach_redis_is_not_ready_until_it_can(
    cluster: list[Centre], redis_server: RedisServer
) -> None:
    first = cluster[0]
    assert first.redis is not None
    await asyncio.wait_for(first.redis.wait_up(), 10)
    async with first.client() as client:
        ready = (await client.get("/readyz")).json()
        assert ready["ready"] is True
        assert ready["checks"]["redis"] == {"ok": True}
        redis_server.kill()
        down = await client.get("/readyz")
        assert down.status_code == 503
        assert down.json()["checks"]["redis"]["ok"] is False
        assert down.json()["checks"]["store"] == {"ok": True}
        redis_server.start()
        await asyncio.wait_for(first.redis.wait_up(), 20)
        assert (await client.get("/readyz")).json()["ready"] is True
