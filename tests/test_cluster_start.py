"""Two servers of one centre start on one store and one Redis, and each is linked."""

from __future__ import annotations

import asyncio

from console.models import Role
from tests.conftest import Centre


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
