"""What runs after each lease renewal and each Redis reconnection (real Redis): a
listener's failure does not stop the renewals, and a lane that comes online here
while other servers' leases are read is not taken for another server's lost lane."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass

import pytest

from console.cluster.envelope import Envelope, open_as, seal
from console.cluster.holding import LaneHolding
from console.cluster.lanes import STATUS_KEY, ClusterLanes
from console.cluster.lease_rules import LeasePolicy
from console.cluster.leases import key
from console.cluster.redis_link import RedisLink
from console.cluster.requests import Requests
from console.cluster.servers import Servers
from console.cluster.status_wire import StatusReport
from gates.centre.hub import LaneHub
from gates.centre.status import LaneStatus
from gates.vocabulary import GateState
from tests.services import RedisServer

LANE = "P1-OUT"


async def _any_token(lane: str, token: str) -> bool:
    return True


@dataclass
class Server:
    link: RedisLink
    hub: LaneHub
    holding: LaneHolding
    lanes: ClusterLanes


@pytest.fixture(params=[0.4])
async def server(
    redis_server: RedisServer, request: pytest.FixtureRequest
) -> AsyncIterator[Server]:
    """One server of a centre, whose leases live ``request.param`` seconds."""
    link = RedisLink(redis_server.url, "s-here")
    requests = Requests(link)
    hub = LaneHub(_any_token)
    policy = LeasePolicy(request.param)
    servers = Servers(link, "here", policy.ttl_s * 3, policy.renew_s)
    holding = LaneHolding(link, requests, hub, policy, servers)
    lanes = ClusterLanes(link, requests, hub, holding, 3.0)
    await link.start()
    await asyncio.wait_for(link.wait_up(), 10)
    await lanes.start()
    first_round = asyncio.Event()

    async def ran() -> None:
        first_round.set()

    servers.after_each_round(ran)
    await servers.start(None)
    await asyncio.wait_for(first_round.wait(), 10)  # the next is a quarter lease later
    yield Server(link, hub, holding, lanes)
    await lanes.close()
    await servers.close(5.0)
    await holding.close(5.0)
    await requests.close()
    await link.close()


async def test_a_round_listener_that_fails_does_not_stop_the_renewals(server: Server) -> None:
    rounds: asyncio.Queue[int] = asyncio.Queue()
    count = 0

    async def broken() -> None:
        nonlocal count
        count += 1
        rounds.put_nowait(count)
        raise KeyError(LANE)  # what a bug in one listener raises

    server.holding.servers.after_each_round(broken)
    assert await server.holding.claim(LANE)
    # Eight rounds are two lease lives: the lease lived that long only if renewed.
    for expected in range(1, 9):
        assert await asyncio.wait_for(rounds.get(), 5) == expected
    assert await server.link.client.get(key(LANE)) == b"s-here"
    assert server.holding.tenure.holds(LANE)


async def test_a_round_held_up_after_its_answer_does_not_hold_up_the_next(
    server: Server,
) -> None:
    """The first round's listener does not return until the end (the next rounds' are
    skipped meanwhile, one run at a time); rounds are still sent every quarter lease
    life, and the lease lives on for two lease lives and more."""
    entered = asyncio.Event()
    release = asyncio.Event()

    async def stuck() -> None:
        entered.set()
        await release.wait()  # a listener busy for as long as the test runs

    server.holding.servers.after_each_round(stuck)
    assert await server.holding.claim(LANE)
    try:
        await asyncio.wait_for(entered.wait(), 5)
        await _eight_more_rounds(server.holding.servers)
        assert await server.link.client.get(key(LANE)) == b"s-here"
        assert server.holding.tenure.holds(LANE)
    finally:
        release.set()


async def _eight_more_rounds(servers: Servers) -> None:
    """Until the server has sent eight more rounds: two lease lives, which the lease
    outlived only if each renewed it. Counted by a part of the round, told of each."""
    counted = asyncio.Condition()
    rounds = 0

    class Counter:
        def deadline(self) -> float | None:
            return None

        async def renew(self) -> None:
            nonlocal rounds
            rounds += 1
            async with counted:
                counted.notify_all()

        async def settle(self, now: float) -> None:
            return None

    servers.add_part(Counter())
    async with asyncio.timeout(5), counted:
        await counted.wait_for(lambda: rounds >= 8)


# Leases of a second: dialling a pool's hundred connections is a burst of work for the
# event loop on a busy machine, and must not be what lets the lease go.
@pytest.mark.parametrize("server", [1.0], indirect=True)
async def test_renewals_go_on_while_other_commands_take_every_pooled_connection(
    server: Server,
) -> None:
    """Other commands (a thousand lanes claiming leases at once) have every connection
    of the link's pool, and the next command there waits for one; the rounds have a pool
    of their own, and the lease lives on for two lease lives and more. A command that
    waited gets its answer once a connection is free."""
    assert await server.holding.claim(LANE)
    pool = server.link.client.connection_pool
    taken = [
        await pool.get_connection()  # type: ignore[no-untyped-call]  # redis-py's own
        for _ in range(pool.max_connections)
    ]

    async def read() -> object:
        return await server.link.client.get(key(LANE))

    try:
        await _eight_more_rounds(server.holding.servers)
        assert await server.link.reserved.get(key(LANE)) == b"s-here"
        waiting = asyncio.create_task(read())
        for _ in range(5):
            await asyncio.sleep(0)  # its turns to ask the pool, which refused at once before
        assert not waiting.done()  # it waits for a connection
        await pool.release(taken.pop())
        assert await asyncio.wait_for(waiting, 5) == b"s-here"
        assert server.holding.tenure.holds(LANE)
    finally:
        for connection in taken:
            await pool.release(connection)


# Leases of a minute: no renewal round checks the lane's holder but the test's own.
@pytest.mark.parametrize("server", [60.0], indirect=True)
async def test_a_lane_that_comes_online_here_while_leases_are_read_stays_online(
    server: Server,
) -> None:
    told: asyncio.Queue[LaneStatus] = asyncio.Queue()
    server.lanes.subscribe(told.put_nowait)
    # Another server says the lane is online there (its lease since gone).
    there = seal("s-there", StatusReport(LaneStatus(LANE, online=True)))
    await server.link.client.hset(STATUS_KEY, LANE, there)
    await server.link.client.publish(STATUS_KEY, there)
    assert (await asyncio.wait_for(told.get(), 5)).online
    assert server.lanes.online() == [LANE]

    holders = server.holding.store.holders
    published = server.link.client.pubsub()
    await published.subscribe(STATUS_KEY)

    async def lane_welcomed_meanwhile(lanes: list[str]) -> dict[str, str | None]:
        leases = await holders(lanes)
        # Its new link, welcomed here: the lease taken, then the lane online.
        assert (await server.holding.store.take(LANE))[0] == "s-here"
        server.hub._update(LaneStatus(LANE, online=True))
        return leases

    server.holding.store.holders = lane_welcomed_meanwhile  # type: ignore[method-assign]
    await server.lanes._check_holders()
    assert (await asyncio.wait_for(told.get(), 5)).online  # here
    assert told.empty()  # and never offline
    assert server.lanes.status(LANE).online
    # The other servers are told it is here.
    async with asyncio.timeout(5):
        async for message in published.listen():
            if message["type"] == "message":
                heard = open_as(message["data"], StatusReport)
                assert heard == Envelope("s-here", StatusReport(server.hub.status(LANE)))
                break
    await published.aclose()  # type: ignore[no-untyped-call]  # redis-py's own


async def test_a_status_another_server_told_last_stands_unless_it_names_no_server(
    server: Server,
) -> None:
    """With the lane's lease free, this server's goodbye does not overwrite the status
    another server wrote last; it does overwrite a value that is no message of ours."""
    client = server.link.client
    goodbye = LaneStatus(LANE, gate=GateState.DOWN)
    there = seal("s-there", StatusReport(LaneStatus(LANE, online=True)))
    for last, stands in (
        (there, True),
        (b'{"server": "s-there", "lane": "P1-OUT", "online": true}', False),
        (b"not json", False),
    ):
        await client.hset(STATUS_KEY, LANE, last)
        server.lanes._unpublished[LANE] = goodbye
        await server.lanes._flush()
        written = await client.hget(STATUS_KEY, LANE)
        assert written == (last if stands else seal("s-here", StatusReport(goodbye)))


async def test_a_status_the_server_cannot_read_is_refused_and_changes_nothing(
    server: Server, caplog: pytest.LogCaptureFixture
) -> None:
    told: asyncio.Queue[LaneStatus] = asyncio.Queue()
    server.lanes.subscribe(told.put_nowait)
    online = StatusReport(LaneStatus(LANE, online=True)).to_json()
    newer = {"v": 2, "kind": "lane_status", "from": "s-there", "body": online}
    unnamed = {"v": 1, "kind": "lane_status", "from": "s-there", "body": online | {"lane": ""}}
    with caplog.at_level(logging.WARNING, "seat.cluster"):
        for bad in (b"\xff", json.dumps(newer).encode(), json.dumps(unnamed).encode()):
            await server.link.client.publish(STATUS_KEY, bad)
        # Heard after them: the only status told, from the only message read.
        there = LaneStatus("P2-IN", online=True)
        await server.link.client.publish(STATUS_KEY, seal("s-there", StatusReport(there)))
        assert await asyncio.wait_for(told.get(), 5) == there
    assert told.empty() and server.lanes.online() == ["P2-IN"]
    refused = [r.getMessage() for r in caplog.records if "lane.status.refused" in r.getMessage()]
    assert len(refused) == 3 and "version 2 is newer" in refused[1]
