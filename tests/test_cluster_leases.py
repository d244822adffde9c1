"""Lane leases between two servers of one centre, with real Redis, WebSockets and
proxies that cut a server off: a lane is taken once, handed over when its link moves,
taken again after Redis restarts, and never held by two servers when one is cut off."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, replace
from pathlib import Path

import pytest
import redis.asyncio as redis
from websockets.asyncio.client import connect

from console.cluster.lease_rules import LeasePolicy
from console.cluster.leases import LeaseStore, key
from console.models import Role
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from gates.backoff import Backoff
from gates.centre.commands import Outcome
from gates.centre.status import LaneStatus
from gates.lane.agent import LaneAgent, LaneReplaced, link_url
from gates.lane.session import LaneSession
from gates.protocol import OpenGate
from tests.conftest import TEST_POLICY, Centre, Running, start_centre, start_lane, wait_status
from tests.desks import desk
from tests.lanes import ScriptedDriver
from tests.netproxy import CuttableProxy
from tests.services import RedisServer
from tests.test_lane_link import closed_with

LANE = "P1-OUT"
LEASE_S = 2.0

log = logging.getLogger("tests.cluster")


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        port=0,
        command_timeout_s=3.0,
        heartbeat=TEST_POLICY,
        lane_lease_s=LEASE_S,
    )


@dataclass
class Server:
    running: Running
    centre: Centre
    redis_proxy: CuttableProxy  # between this server and Redis: cut it off


@pytest.fixture
async def servers(settings: Settings, redis_server: RedisServer) -> AsyncIterator[list[Server]]:
    """Servers A and B of one centre (one SQLite file, one Redis), each reaching Redis
    through a proxy of its own."""
    started: list[Server] = []
    stores: list[SQLiteStore] = []
    try:
        for _ in range(2):
            proxy = CuttableProxy(redis_server.port)
            await proxy.start()
            own = replace(settings, redis_url=f"redis://127.0.0.1:{proxy.port}/0")
            stores.append(await SQLiteStore.open(own.database))
            running = await start_centre(own, stores[-1])
            started.append(Server(running, running.centre(stores[-1], own), proxy))
        for server in started:
            assert server.centre.redis is not None
            async with asyncio.timeout(10):
                await server.centre.redis.wait_up()
        await started[0].centre.add_user("alice", Role.AGENT)
        yield started
    finally:
        for server in started:
            server.redis_proxy.restore()
            await server.running.stop()
            await server.redis_proxy.close()
        for store in stores:
            await store.close()


@pytest.fixture
async def redis_client(redis_server: RedisServer) -> AsyncIterator[redis.Redis]:
    """The test's own view of Redis, past the servers' proxies."""
    client: redis.Redis = redis.Redis.from_url(redis_server.url)
    yield client
    await client.aclose()


def server_id(server: Server) -> str:
    assert server.centre.redis is not None
    return server.centre.redis.server


def online(status: LaneStatus) -> bool:
    return status.online


def offline(status: LaneStatus) -> bool:
    return not status.online


@contextlib.asynccontextmanager
async def lane_through(
    proxy: CuttableProxy, token: str, lane_id: str = LANE
) -> AsyncIterator[tuple[LaneAgent, ScriptedDriver, asyncio.Task[None]]]:
    """A lane agent dialling the centre through ``proxy``, whose target the test moves
    from one server to the other, as a lane given several servers' addresses would."""
    driver = ScriptedDriver()
    agent = LaneAgent(
        [link_url(f"http://127.0.0.1:{proxy.port}")],
        LaneSession(lane_id, token, heartbeat_ms=200),
        driver,
        Backoff(first=0.05, cap=0.2),
    )
    task = asyncio.create_task(agent.run())
    try:
        yield agent, driver, task
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_lease_is_taken_once_and_only_its_holder_frees_it(
    redis_client: redis.Redis,
) -> None:
    policy = LeasePolicy(LEASE_S)
    first, second = (LeaseStore(redis_client, name, policy) for name in ("s-one", "s-two"))
    assert (await first.take(LANE))[0] == "s-one"
    holder, pttl_ms = await second.take(LANE)
    assert holder == "s-one" and 0 < pttl_ms <= policy.ttl_ms
    assert await second.renew([LANE]) == ([LANE], [])  # not second's to renew
    assert await second.release(LANE) is False
    assert await redis_client.get(key(LANE)) == b"s-one"
    # A lease no server has is renewed only when Redis is back and may have forgotten it.
    assert await first.renew([LANE, "P2-IN"]) == ([], ["P2-IN"])
    assert await redis_client.get(key("P2-IN")) is None
    assert await first.renew([LANE, "P2-IN"], rewrite=True) == ([], [])
    assert await first.holders([LANE, "P2-IN", "P3-IN"]) == {
        LANE: "s-one",
        "P2-IN": "s-one",
        "P3-IN": None,
    }
    assert await first.release(LANE) is True
    assert (await second.take(LANE))[0] == "s-two"


async def test_a_renewal_that_reaches_redis_after_a_release_leaves_the_lease_released(
    redis_client: redis.Redis,
) -> None:
    """The renewal round read the leases held before the lane left; its release
    reached Redis first. The lane must stay free, not name this server again."""
    store = LeaseStore(redis_client, "s-one", LeasePolicy(LEASE_S))
    assert (await store.take(LANE))[0] == "s-one"
    assert await store.release(LANE) is True
    assert await store.renew([LANE]) == ([], [LANE])
    assert await redis_client.get(key(LANE)) is None
    other = LeaseStore(redis_client, "s-two", LeasePolicy(LEASE_S))
    assert await other.take(LANE) == ("s-two", LeasePolicy(LEASE_S).ttl_ms)


async def test_thousands_of_leases_are_renewed_in_one_call_each_as_its_key_says(
    redis_client: redis.Redis,
) -> None:
    """More lanes than the script reads at once (it reads their keys 1,000 at a time):
    each lease is renewed, found another's or found missing, wherever it falls."""
    lanes = [f"P{n:04d}-IN" for n in range(2500)]
    others = [lanes[999], lanes[1000], lanes[2499]]
    gone = [lanes[0], lanes[1500]]
    async with redis_client.pipeline(transaction=False) as pipe:
        for lane in lanes:
            if lane not in gone:
                pipe.set(key(lane), "s-two" if lane in others else "s-one", px=60_000)
        await pipe.execute()
    store = LeaseStore(redis_client, "s-one", LeasePolicy(600.0))
    assert await store.renew(lanes) == (others, gone)
    async with redis_client.pipeline(transaction=False) as pipe:
        for lane in lanes:
            pipe.pttl(key(lane))
        pttls = dict(zip(lanes, await pipe.execute(), strict=True))
    renewed = [lane for lane, pttl in pttls.items() if pttl > 60_000]
    assert renewed == [lane for lane in lanes if lane not in others and lane not in gone]
    assert [pttls[lane] for lane in gone] == [-2, -2]  # not written: let go meanwhile
    assert await store.renew(lanes, rewrite=True) == (others, [])
    assert await store.holders(gone) == {lane: "s-one" for lane in gone}


@pytest.mark.parametrize("lanes", [["P1 OUT"], ["P1-OUT", ""]])
async def test_a_renewal_naming_no_lane_id_is_refused_and_writes_nothing(
    redis_client: redis.Redis, lanes: list[str]
) -> None:
    store = LeaseStore(redis_client, "s-one", LeasePolicy(LEASE_S))
    with pytest.raises(ValueError, match="lane id"):
        await store.renew(lanes, rewrite=True)
    assert await redis_client.keys("*") == []


async def test_a_lane_connecting_to_the_other_server_moves_there_once_its_holder_lets_go(
    servers: list[Server], redis_client: redis.Redis
) -> None:
    """A newer connection of B's lane reaches A: A asks B to let go, B closes its link
    as replaced (that agent stops, as on one server), and A takes the lease."""
    a, b = (server.centre for server in servers)
    old = await start_lane(b, LANE)
    await a.changes.poll()
    loop = asyncio.get_running_loop()
    started = loop.time()
    new = await start_lane(a, LANE, token=b.tokens[LANE])
    log.info("handover_ms=%d", round((loop.time() - started) * 1000))
    with pytest.raises(ExceptionGroup) as caught:
        await asyncio.wait_for(old.task, 10)
    [replaced] = caught.value.exceptions
    assert isinstance(replaced, LaneReplaced)
    assert await redis_client.get(key(LANE)) == server_id(servers[0]).encode()
    assert a.hub.status(LANE).online and not b.hub.status(LANE).online
    assert b.lanes is not None
    await wait_status(b.lanes, LANE, online)  # B's console shows it, held by A
    resolved = await b.lanes.command(LANE, OpenGate(command_id="c-moved", reason="emergency"), 3)
    assert resolved.outcome is Outcome.DONE
    assert (old.driver.opens, new.driver.opens) == (0, 1)
    await new.stop()


async def test_after_redis_restarts_leases_are_taken_again_and_commands_work(
    servers: list[Server], redis_server: RedisServer, redis_client: redis.Redis
) -> None:
    a, b = (server.centre for server in servers)
    lane = await start_lane(b, LANE)
    await a.changes.poll()
    assert a.lanes is not None
    await wait_status(a.lanes, LANE, online)
    back = [asyncio.Event(), asyncio.Event()]
    for centre, event in zip((a, b), back, strict=True):
        assert centre.redis is not None
        centre.redis.on_up(_setter(event))
    redis_server.kill()
    redis_server.start()
    async with asyncio.timeout(15):
        await asyncio.gather(*(event.wait() for event in back))
        # Each server retakes its leases in a listener of its own, beside the test's:
        # Redis tells of the lease's write (a keyspace event), once subscribed to it.
        await redis_client.config_set("notify-keyspace-events", "K$")
        async with redis_client.pubsub() as written:
            await written.subscribe(f"__keyspace@0__:{key(LANE)}")
            while await redis_client.get(key(LANE)) is None:
                await written.get_message(ignore_subscribe_messages=True, timeout=1.0)
    assert await redis_client.get(key(LANE)) == server_id(servers[1]).encode()
    assert b.hub.status(LANE).online  # B kept its lane's link throughout
    await wait_status(a.lanes, LANE, online)
    resolved = await a.lanes.command(LANE, OpenGate(command_id="c-back", reason="emergency"), 3)
    assert resolved.outcome is Outcome.DONE and lane.driver.opens == 1
    await lane.stop()


def _setter(event: asyncio.Event) -> Callable[[], Awaitable[None]]:
    async def up() -> None:
        event.set()

    return up


async def test_a_server_cut_off_from_redis_lets_its_lanes_go_before_its_leases_expire(
    servers: list[Server], redis_client: redis.Redis
) -> None:
    """B loses Redis: it closes its lane's link while its lease still stands, the lane
    redials (to A, as the next address it has), and A takes the lane once B's lease is
    gone. At no moment do both servers hold the lane; once B is back it sees the lane
    on A."""
    a, b = servers
    token = await b.centre.add_lane(LANE)
    await a.centre.changes.poll()
    events: list[tuple[str, bool]] = []
    lease_when_b_let_go: list[asyncio.Task[tuple[bytes | None, int]]] = []

    def watch(name: str, centre: Centre) -> None:
        def changed(status: LaneStatus) -> None:
            if status.lane != LANE or (events and events[-1] == (name, status.online)):
                return
            events.append((name, status.online))
            if name == "B" and not status.online:
                lease_when_b_let_go.append(asyncio.create_task(_lease(redis_client)))

        centre.hub.subscribe(changed)

    watch("A", a.centre)
    watch("B", b.centre)
    lane_proxy = CuttableProxy(int(b.centre.url.rsplit(":", 1)[1]))
    await lane_proxy.start()
    try:
        async with lane_through(lane_proxy, token) as (agent, driver, _):
            await asyncio.wait_for(agent.connected.wait(), 10)
            assert a.centre.lanes is not None
            await wait_status(a.centre.lanes, LANE, online)
            lane_proxy.target_port = int(a.centre.url.rsplit(":", 1)[1])
            await b.redis_proxy.cut(stay_down=True)
            await wait_status(b.centre.hub, LANE, offline)
            holder, pttl_ms = await lease_when_b_let_go[0]
            assert holder == server_id(b).encode() and pttl_ms > 0  # its lease still stood
            await wait_status(a.centre.hub, LANE, online, timeout=3 * LEASE_S)
            assert await redis_client.get(key(LANE)) == server_id(a).encode()
            assert events == [("B", True), ("B", False), ("A", True)]
            b.redis_proxy.restore()
            assert b.centre.lanes is not None
            await wait_status(b.centre.lanes, LANE, online, timeout=10)
            resolved = await b.centre.lanes.command(
                LANE, OpenGate(command_id="c-after", reason="emergency"), 3
            )
            assert resolved.outcome is Outcome.DONE and driver.opens == 1
    finally:
        await lane_proxy.close()


async def _lease(client: redis.Redis) -> tuple[bytes | None, int]:
    async with client.pipeline(transaction=True) as pipe:
        pipe.get(key(LANE))
        pipe.pttl(key(LANE))
        holder, pttl = await pipe.execute()
    return holder, int(pttl)


async def test_an_asker_whose_lanes_server_dies_mid_command_gets_timeout_and_the_lane_one_lift(
    servers: list[Server],
) -> None:
    a, b = servers
    lane = await start_lane(b.centre, LANE)
    lane.driver.hold = asyncio.Event()
    await a.centre.changes.poll()
    assert a.centre.lanes is not None
    await wait_status(a.centre.lanes, LANE, online)
    async with a.centre.client("alice") as client:
        opening = asyncio.create_task(
            client.post(f"/api/lanes/{LANE}/open", json={"reason": "emergency"})
        )
        await asyncio.wait_for(lane.driver.lifting.wait(), 5)
        await b.redis_proxy.cut(stay_down=True)  # B can no longer answer A
        lane.driver.hold.set()
        response = await opening
    body = response.json()
    assert body["outcome"] == "timeout"
    entries = [e async for e in a.centre.store.iter_audit() if e.command_id == body["command_id"]]
    assert [e.outcome for e in entries] == [None, "timeout"]
    assert lane.driver.opens == 1
    await lane.stop()


async def test_a_console_on_one_server_sees_the_lanes_of_a_server_that_stops_go_offline(
    servers: list[Server],
) -> None:
    a, b = servers
    await b.centre.add_lane(LANE)
    await a.centre.changes.poll()
    async with desk(a.centre, "alice") as tab:
        lane = await start_lane(b.centre, LANE)
        await tab.next("lane", lambda m: m["lane"]["id"] == LANE and m["lane"]["online"])
        await b.running.stop()  # it says goodbye for its lanes, and lets their leases go
        await tab.next("lane", lambda m: m["lane"]["id"] == LANE and not m["lane"]["online"])
    await lane.stop()


async def test_a_server_whose_redis_went_silent_still_stops(
    servers: list[Server], redis_client: redis.Redis
) -> None:
    """A holds a lane, a console tab is open on it, and its proxy to Redis goes silent
    (nothing passes, nothing is closed): asked to stop, A stops, however its last
    writes to Redis (its tabs, its lane's status, its presence, its lease) hang."""
    a, _ = servers
    lane = await start_lane(a.centre, LANE)
    async with desk(a.centre, "alice"):
        assert await redis_client.get(key(LANE)) == server_id(a).encode()
        a.redis_proxy.silence()
    try:
        async with asyncio.timeout(30):
            await a.running.stop()
    except TimeoutError:
        pytest.fail("the server did not stop")
    finally:
        await lane.stop()
    assert a.running.task.done() and a.running.task.exception() is None


async def test_the_lanes_of_a_server_cut_off_count_as_offline_once_its_leases_are_gone(
    servers: list[Server], redis_client: redis.Redis
) -> None:
    """B can no longer say anything: A learns from B's lease, gone at its expiry."""
    a, b = servers
    lane = await start_lane(b.centre, LANE)  # it redials B alone, which cannot have it
    await a.centre.changes.poll()
    assert a.centre.lanes is not None
    await wait_status(a.centre.lanes, LANE, online)
    await b.redis_proxy.cut(stay_down=True)
    await wait_status(a.centre.lanes, LANE, offline, timeout=3 * LEASE_S)
    assert await redis_client.get(key(LANE)) is None
    assert LANE not in a.centre.lanes.online()
    resolved = await a.centre.lanes.command(
        LANE, OpenGate(command_id="c-gone", reason="emergency"), 1
    )
    assert resolved.outcome is Outcome.LANE_OFFLINE and lane.driver.opens == 0
    await lane.stop()


async def test_a_server_whose_lease_another_took_closes_the_lanes_link(
    servers: list[Server], redis_client: redis.Redis
) -> None:
    """As after a Redis restart that another server's renewal reached first: B's next
    renewal finds the lease not its own and lets the lane go; the lane is back once the
    lease is free again."""
    _, b = servers
    lane = await start_lane(b.centre, LANE)
    await redis_client.set(key(LANE), "another-server", px=round(LEASE_S * 1000))
    await wait_status(b.centre.hub, LANE, offline, timeout=LEASE_S)
    await wait_status(b.centre.hub, LANE, online, timeout=3 * LEASE_S)  # after it expired
    assert await redis_client.get(key(LANE)) == server_id(b).encode()
    await lane.stop()


async def test_a_server_that_cannot_reach_redis_sends_a_lane_to_dial_again(
    servers: list[Server],
) -> None:
    """On the wire: no welcome, and 4503, which a lane answers by redialling (this
    server or the next it knows), not by stopping as for 4401 or 4409."""
    _, b = servers
    token = await b.centre.add_lane(LANE)
    await b.redis_proxy.cut(stay_down=True)
    async with connect(b.centre.link) as ws:
        await ws.send(
            json.dumps({"type": "hello", "v": 1, "lane": LANE, "token": token, "heartbeat_ms": 500})
        )
        assert await closed_with(ws) == (
            4503,
            "this server cannot hold the lane now; dial again",
        )
    assert not b.centre.hub.status(LANE).online
