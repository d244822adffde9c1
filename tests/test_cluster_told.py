"""Logins ended, and lanes added or re-keyed, on one server of a centre or by the CLI,
are acted on by every server at once: through Redis, not at the next poll of the change
feed. These servers poll it once an hour, so only the message can reach them before the
test's timeout."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging

import pytest
from websockets.asyncio.client import connect

from console.cluster.told import SESSIONS, notice
from console.models import ChangeKind, Role
from tests.conftest import Centre, start_lane
from tests.desks import desk
from tests.services import RedisServer
from tests.test_cli import seat
from tests.test_stream import close_code, next_message, session_cookie, stream_url

LANE_ADD = ("lanes", "add")
LANE_FIELDS = ("--name", "九号出口", "--car-park", "人民路停车场", "--direction", "exit")

pytestmark = pytest.mark.parametrize("settings", [{"change_poll_s": 3600.0}], indirect=True)


async def linked(cluster: list[Centre]) -> tuple[Centre, Centre]:
    first, second = cluster
    async with asyncio.timeout(10):
        for centre in cluster:
            assert centre.redis is not None
            await centre.redis.wait_up()
    await first.add_user("amy", Role.AGENT)
    return first, second


async def test_logout_on_one_server_ends_the_stream_on_the_other_at_once(
    cluster: list[Centre],
) -> None:
    first, second = await linked(cluster)
    cookie, csrf = await session_cookie(first, "amy")
    headers = {"cookie": f"seat_session={cookie}"}
    async with connect(stream_url(second), additional_headers=headers) as ws:
        await next_message(ws, "lanes")
        async with second.client() as client:  # the session is cached on the second
            assert (await client.get("/api/me", headers=headers)).status_code == 200
        async with first.client() as client:
            response = await client.post("/api/logout", headers={**headers, "X-CSRF-Token": csrf})
        assert response.status_code == 204
        assert await close_code(ws) == 4401
    async with second.client() as client:
        assert (await client.get("/api/me", headers=headers)).status_code == 401


async def test_cli_disable_with_redis_ends_streams_on_every_server_at_once(
    cluster: list[Centre], redis_server: RedisServer
) -> None:
    first, second = await linked(cluster)
    async with contextlib.AsyncExitStack() as stack:
        tabs = []
        for centre in (first, second):
            cookie, _ = await session_cookie(centre, "amy")
            headers = {"cookie": f"seat_session={cookie}"}
            ws = await stack.enter_async_context(
                connect(stream_url(centre), additional_headers=headers)
            )
            await next_message(ws, "lanes")
            tabs.append(ws)
        env = {"SEAT_REDIS_URL": redis_server.url}
        done = await asyncio.to_thread(
            seat, first.settings.data_dir, "user", "disable", "amy", env=env
        )
        assert done.returncode == 0, done.stderr
        assert [await close_code(ws) for ws in tabs] == [4401, 4401]


async def test_cli_without_redis_says_the_servers_hear_it_by_their_poll(
    cluster: list[Centre], redis_server: RedisServer
) -> None:
    """Redis down: the change is made and the operator told how it will arrive."""
    first, _ = await linked(cluster)
    redis_server.stop()
    env = {"SEAT_REDIS_URL": redis_server.url}
    done = await asyncio.to_thread(seat, first.settings.data_dir, "user", "disable", "amy", env=env)
    assert done.returncode == 0
    assert "were not told at once" in done.stderr
    user = await first.store.get_user("amy")
    assert user is not None and user.disabled


async def test_a_lane_added_with_the_cli_shows_on_every_server_at_once(
    cluster: list[Centre], redis_server: RedisServer
) -> None:
    first, second = await linked(cluster)
    env = {"SEAT_REDIS_URL": redis_server.url}
    async with desk(second, "amy") as amy:
        added = await asyncio.to_thread(
            seat, first.settings.data_dir, *LANE_ADD, "P9-OUT", *LANE_FIELDS, env=env
        )
        assert added.returncode == 0, added.stderr
        lane = (await amy.next("lane", lambda m: m["lane"]["id"] == "P9-OUT"))["lane"]
        assert (lane["name"], lane["online"]) == ("九号出口", False)


async def test_a_lane_re_keyed_with_the_cli_is_cut_off_at_once_where_it_is_linked(
    cluster: list[Centre], redis_server: RedisServer
) -> None:
    _, second = await linked(cluster)
    lane = await start_lane(second, "P9-OUT")
    try:
        env = {"SEAT_REDIS_URL": redis_server.url}
        rotated = await asyncio.to_thread(
            seat, second.settings.data_dir, *LANE_ADD, "P9-OUT", *LANE_FIELDS, env=env
        )
        assert rotated.returncode == 0, rotated.stderr
        await second.wait_status("P9-OUT", lambda status: not status.online)
    finally:
        await lane.stop()


def _told(version: int, body: dict[str, object]) -> bytes:
    return json.dumps({"v": version, "kind": "change", "from": "x", "body": body}).encode()


@pytest.mark.parametrize(
    "bad",
    [
        b"not json",
        b"[1]",
        _told(99, {"change": "session", "subject": "s"}),
        _told(1, {"change": "lane", "subject": "P1"}),  # not told on this channel
        _told(1, {"change": "user", "subject": 7}),
        _told(1, {"change": "user", "subject": "amy\u0000"}),
        b'{"v": 1, "kind": "change", "body": {"change": "user", "subject": "amy"}}',
    ],
)
async def test_a_message_the_server_cannot_read_is_refused_and_logged(
    cluster: list[Centre], bad: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = await linked(cluster)
    cookie, _ = await session_cookie(second, "amy")
    assert first.redis is not None
    async with connect(
        stream_url(second), additional_headers={"cookie": f"seat_session={cookie}"}
    ) as ws:
        await next_message(ws, "lanes")
        with caplog.at_level(logging.ERROR, "seat.cluster"):
            await first.redis.publish(SESSIONS, bad)
            # A good message after it is still heard: the listener survived.
            await first.store.delete_user_sessions("amy")
            await first.redis.publish(SESSIONS, notice("elsewhere", ChangeKind.USER, "amy"))
            assert await close_code(ws) == 4401
        assert "cluster.changes.refused" in caplog.text
