"""An order issued on one server of a centre, followed on a tab of the other: each of
its changes arrives from the server that made it, and its expiry, which nothing writes,
from the other server's own timer, once."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import pytest

from console.models import Role
from tests.conftest import Centre, start_lane
from tests.desks import Message, desk
from tests.test_cluster_news import failed_login, until
from tests.test_payments_api import PLATE, issue, settings  # noqa: F401


@pytest.mark.parametrize("settings", [{"payment_expiry_s": 2.0}], indirect=True)
async def test_an_order_from_one_server_is_told_expired_on_the_other_once(
    cluster: list[Centre],
) -> None:
    async with asyncio.timeout(10):
        for centre in cluster:
            assert centre.redis is not None
            await centre.redis.wait_up()
    first, second = cluster
    await first.add_user("alice", Role.AGENT)
    await first.add_user("sue", Role.SUPERVISOR)
    lane = await start_lane(first, "P1-OUT")
    try:
        async with first.client("alice") as client, desk(second, "sue") as sue:
            response = await issue(client, {"plate": PLATE, "amount_fen": 800})
            assert response.status_code == 201, response.text
            order_id = response.json()["order_id"]

            def of(state: str) -> Callable[[Message], bool]:
                return lambda m: m["order"]["order_id"] == order_id and m["order"]["state"] == state

            await sue.next("order", of("open"))
            await sue.next("order", of("expired"))
            last = await failed_login(first)  # news of the first, after its own expiry
            seen = await until(sue, lambda m: m["type"] == "audit" and m["entry"]["seq"] == last)
            assert [m for m in seen if m["type"] == "order"] == []
    finally:
        await lane.stop()
