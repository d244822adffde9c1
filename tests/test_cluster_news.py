"""The console's news on every server of a centre: two servers on one store and one
Redis, real lanes, real console tabs. What happens on one server reaches the tabs of
the other, chosen by their users there, once; and after Redis is restarted, news flows
again and the ledger's entries missed meanwhile are delivered from the store."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime

import httpx
import pytest

from console.audience import SUPERVISORS
from console.auth import new_token, token_hash
from console.billing.lists import ListedPlate, PlateLists
from console.cluster.envelope import seal
from console.cluster.news import CHANNEL
from console.cluster.news_wire import Lost
from console.ledger import AuditAction, AuditRecord
from console.models import Direction, LaneRecord, Role
from tests.conftest import PASSWORD, Centre, Lane, start_lane
from tests.desks import Desk, Message, desk
from tests.services import RedisServer
from tests.test_gatekeeping import PARK, read, with_lists

ELSEWHERE = "解放路停车场"
BANNED = "粤B44444"  # on with_lists' blacklist


async def up(cluster: list[Centre]) -> None:
    async with asyncio.timeout(10):
        for centre in cluster:
            assert centre.redis is not None
            await centre.redis.wait_up()


@pytest.fixture
async def servers(cluster: list[Centre]) -> tuple[Centre, Centre]:
    """The two servers, linked; alice covers every car park, carl only another one,
    sue supervises."""
    await up(cluster)
    first, second = cluster
    await first.add_user("alice", Role.AGENT)
    await first.add_user("carl", Role.AGENT)
    await first.store.set_coverage("carl", [ELSEWHERE])
    await first.add_user("sue", Role.SUPERVISOR)
    return first, second


async def until_mark(centre: Centre, tab: Desk) -> list[Message]:
    """What ``tab`` is sent before the news of a lane added now on its server, which
    every tab there gets after whatever that server delivered before."""
    await centre.add_lane("MARK")
    return await until(tab, lambda m: m["type"] == "lane" and m["lane"]["id"] == "MARK")


async def until(tab: Desk, last: Callable[[Message], bool]) -> list[Message]:
    """What ``tab`` is sent up to the first message that passes ``last``, that included."""
    seen: list[Message] = []
    async with asyncio.timeout(10):
        while not seen or not last(seen[-1]):
            seen.append(json.loads(await tab.ws.recv()))
    return seen


@contextlib.asynccontextmanager
async def entry_lanes(centre: Centre) -> AsyncIterator[dict[str, Lane]]:
    """An entry lane at each car park, linked to ``centre``, which holds blacklisted cars."""
    await with_lists(centre)
    banned = PlateLists(blacklist=(ListedPlate(BANNED, None, "被盗车辆"),))
    await centre.store.set_plate_lists(ELSEWHERE, banned, datetime.now(UTC))
    running: dict[str, Lane] = {}
    try:
        for lane_id, park in (("P1-IN", PARK), ("P2-IN", ELSEWHERE)):
            token = new_token()
            record = LaneRecord(lane_id, lane_id, park, Direction.ENTRY, token_hash(token))
            await centre.store.put_lane(record)
            await centre.changes.poll()
            running[park] = await start_lane(centre, lane_id, token=token)
        yield running
    finally:
        for lane in running.values():
            await lane.stop()


async def failed_login(centre: Centre) -> int:
    """The ledger's entry for it."""
    async with httpx.AsyncClient(base_url=centre.url) as client:
        response = await client.post("/api/login", json={"username": "sue", "password": "wrong"})
    assert response.status_code == 401
    return (await entries(centre, "login_failed"))[-1]


async def entries(centre: Centre, action: str) -> list[int]:
    return [e.seq async for e in centre.store.iter_audit() if e.action == action]


def told(messages: list[Message], action: str) -> list[int]:
    return [
        m["entry"]["seq"]
        for m in messages
        if m["type"] == "audit" and m["entry"]["action"] == action
    ]


def entry(seq: int) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "audit" and m["entry"]["seq"] == seq


def alert_at(park: str) -> Callable[[Message], bool]:
    return lambda m: m["type"] == "plate_alert" and m["alert"]["car_park"] == park


async def test_a_car_park_alert_on_one_server_reaches_the_covering_tabs_of_the_other(
    servers: tuple[Centre, Centre],
) -> None:
    first, second = servers
    async with (
        entry_lanes(first) as lanes,
        desk(second, "alice") as alice,
        desk(second, "carl") as carl,
    ):
        lanes[PARK].driver.emit(read(BANNED))
        alert = (await alice.next("plate_alert"))["alert"]
        assert (alert["plate"], alert["lane"], alert["kind"]) == (BANNED, "P1-IN", "blacklist")
        # carl covers the other car park alone. The first server's news come in the
        # order it told them, so carl's first alert, from there, shows he missed none.
        lanes[ELSEWHERE].driver.emit(read(BANNED))
        seen = await until(carl, alert_at(ELSEWHERE))
        assert [m["alert"]["lane"] for m in seen if m["type"] == "plate_alert"] == ["P2-IN"]
        seen = await until(alice, alert_at(ELSEWHERE))  # once: the first is not told again
        assert [m["alert"]["lane"] for m in seen if m["type"] == "plate_alert"] == ["P2-IN"]


async def test_ledger_entries_made_on_one_server_reach_a_supervisor_on_the_other_once(
    servers: tuple[Centre, Centre],
) -> None:
    first, second = servers
    async with desk(second, "sue") as sue, desk(second, "alice") as alice:
        made = [await failed_login(first), await failed_login(second)]
        last = await failed_login(first)  # after the others, from the first
        seen = await until(sue, entry(last))
        assert sorted(told(seen, "login_failed")) == [*sorted(made), last]
        assert told(await until_mark(second, alice), "login_failed") == []


async def test_after_redis_restarts_news_flows_and_missed_entries_come_from_the_store(
    servers: tuple[Centre, Centre], redis_server: RedisServer
) -> None:
    first, second = servers
    async with first.client("carl") as carl, desk(second, "sue") as sue:
        redis_server.kill()
        assert (await carl.post("/api/logout")).status_code == 204  # told to no one
        redis_server.start()
        # The second, linked again, resyncs its tabs: the entry missed, read from the
        # store, then the lane list.
        seen = await until(sue, lambda m: m["type"] == "lanes")
        assert told(seen, "logout") == await entries(first, "logout")
        last = await failed_login(first)
        assert told(await until(sue, entry(last)), "logout") == []


async def test_when_a_server_says_it_lost_news_the_others_resync_their_tabs(
    servers: tuple[Centre, Centre],
) -> None:
    """A server that could not publish says so once Redis answers it: the others
    deliver the entries they have not from the store, then the lane list."""
    first, second = servers
    assert first.redis is not None
    async with desk(second, "sue") as sue:
        record = AuditRecord(actor="mallory", action=AuditAction.LOGIN_FAILED, detail={})
        unheard = await first.store.append(record)  # written, announced to no one
        await first.redis.publish(CHANNEL, seal("elsewhere", Lost()))
        seen = await until(sue, lambda m: m["type"] == "lanes")
        assert told(seen, "login_failed") == [unheard.seq]


def _news(version: int, kind: str, body: dict[str, object]) -> bytes:
    return json.dumps({"v": version, "kind": kind, "from": "x", "body": body}).encode()


ALERT = {"type": "plate_alert"}


@pytest.mark.parametrize(
    "bad",
    [
        b"\xff\xfe",
        b'"news"',
        _news(2, "news", {"audience": SUPERVISORS.to_json(), "message": ALERT, "key": None}),
        _news(1, "weather", {}),
        _news(
            1,
            "news",
            {"audience": {"role": "king", "car_park": None}, "message": ALERT, "key": None},
        ),
        _news(
            1, "news", {"audience": SUPERVISORS.to_json(), "message": {"no": "type"}, "key": None}
        ),
        _news(
            1,
            "news",
            {"audience": SUPERVISORS.to_json(), "message": {"type": "a\u0000"}, "key": None},
        ),
        _news(1, "audit", {"entry": {"seq": "7"}}),
    ],
)
async def test_news_the_server_cannot_read_is_refused_and_logged(
    servers: tuple[Centre, Centre], bad: bytes, caplog: pytest.LogCaptureFixture
) -> None:
    first, second = servers
    assert first.redis is not None
    async with desk(second, "sue") as sue:
        with caplog.at_level(logging.ERROR, "seat.cluster"):
            await first.redis.publish(CHANNEL, bad)
            last = await failed_login(first)  # heard after it: the listener survived
            seen = await until(sue, entry(last))
        assert all(m.get("type") not in (None, "plate_alert") for m in seen)
        assert [m["entry"]["seq"] for m in seen if m["type"] == "audit"] == [last]
        assert "cluster.news.refused" in caplog.text


async def test_one_server_without_redis_tells_its_own_tabs(staffed: Centre) -> None:
    """No SEAT_REDIS_URL: the same telling, to this server's tabs."""
    async with desk(staffed, "sue") as sue:
        async with httpx.AsyncClient(base_url=staffed.url) as client:
            await client.post("/api/login", json={"username": "sue", "password": PASSWORD[::-1]})
        assert len(told(await until_mark(staffed, sue), "login_failed")) == 1
