"""Two ``seat serve`` processes as one centre on one PostgreSQL database and one Redis,
with a real ``seat lane`` given both, through the faults a cluster meets: a server
killed mid-command or with a call ringing, Redis restarted, PostgreSQL restarted, one
server cut off from Redis. What is asserted is what a user sees: HTTP answers, the
ledger's rows, the lane's journal, which server holds the lane (its lease in Redis,
each server's ``/metrics``)."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import httpx
import psycopg
import pytest
from websockets.asyncio.client import connect

from bench.processes import PASSWORD, USERNAME, seat
from gates.lane.agent import link_url
from tests.centres import (
    Deployment,
    Server,
    cluster_env,
    deployment,
    holder,
    holds,
    logged_in,
    restart_closes_the_stranded_open,
    until,
)
from tests.desks import tab
from tests.journals import journal_shows, read
from tests.netproxy import CuttableProxy
from tests.services import PostgresServer, RedisServer

OPEN = {"reason": "free_release"}


@contextlib.asynccontextmanager
async def cluster(
    tmp_path: Path, database_url: str, redis_url: str, **options: Any
) -> AsyncIterator[Deployment]:
    env = cluster_env(database_url, redis_url)
    async with deployment(tmp_path / "data", ["P1-OUT"], env=env, **options) as running:
        yield running


async def leased_to_one_of(redis_url: str, servers: list[Server]) -> bool:
    lease = await holder(redis_url)
    return any(holds(server, lease) for server in servers)


async def online_at(server: Server) -> bool:
    """The lane online as ``server``'s console shows it, and ``server`` ready."""
    async with logged_in(server.url) as client:
        (lane,) = (await client.get("/api/lanes")).json()["lanes"]
        ready = await client.get("/readyz")
    return bool(lane["online"]) and ready.status_code == 200


async def open_gate(server: Server) -> httpx.Response:
    async with logged_in(server.url) as client:
        return await client.post("/api/lanes/P1-OUT/open", json=OPEN)


async def test_a_server_killed_mid_open_leaves_it_open_until_its_next_start(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """kill -9 of the server a lane is on while the lane lifts for an open asked there:
    the lane comes up on the other once the dead server's lease expires, the lift
    happened once, an open through the survivor is done, and the dead server's next
    start closes the open it left as ``timeout``; the ledger both wrote verifies."""
    journal = tmp_path / "P1-OUT.jsonl"
    async with cluster(tmp_path, postgres_url, redis_server.url) as centres:
        a, b = centres.servers
        lane = await centres.start_lane(
            "P1-OUT", [a.url, b.url], "--state", str(journal), "--lift-s", "2"
        )
        await lane.logged("lane.link.online", 1)
        assert holds(a, await holder(redis_server.url))
        async with logged_in(a.url) as at_a:
            opening = asyncio.create_task(at_a.post("/api/lanes/P1-OUT/open", json=OPEN))
            in_flight = (await journal_shows(journal, bool))[0]["id"]
            killed_at = time.monotonic()
            await a.kill()
            with pytest.raises(httpx.TransportError):
                await opening
        await b.running().logged("lane.link.online", 1)
        print(f"\nlane online at the survivor {time.monotonic() - killed_at:.3f} s after kill -9")
        assert holds(b, await holder(redis_server.url))
        await until(lambda: online_at(b))
        opened = await open_gate(b)
        assert opened.json()["outcome"] == "done"
        await restart_closes_the_stranded_open(
            centres, a, in_flight, opened.json()["command_id"], journal
        )
        verified = await centres.audit_verify()
        assert verified.startswith("ok "), verified


async def test_an_open_asked_elsewhere_ends_timeout_when_the_lane_server_dies(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """An agent at B opens a lane A holds; A is killed while the lane lifts: the agent
    is answered ``timeout`` at the deadline (B never heard an outcome), and the lift
    ran once."""
    journal = tmp_path / "P1-OUT.jsonl"
    async with cluster(tmp_path, postgres_url, redis_server.url) as centres:
        a, b = centres.servers
        lane = await centres.start_lane(
            "P1-OUT", [a.url, b.url], "--state", str(journal), "--lift-s", "2"
        )
        await lane.logged("lane.link.online", 1)
        opening = asyncio.create_task(open_gate(b))
        in_flight = (await journal_shows(journal, bool))[0]["id"]
        await a.kill()
        answer = await opening
        assert (answer.status_code, answer.json()["outcome"]) == (200, "timeout")
        assert centres.ledger_rows(in_flight) == [
            ("gate_open_requested", None),
            ("gate_open_outcome", "timeout"),
        ]
        await journal_shows(journal, lambda records: len(records) == 2)
        await until(lambda: online_at(b))
        assert [(r["id"], r["running"]) for r in read(journal)] == [
            (in_flight, True),
            (in_flight, False),
        ]


async def test_after_a_redis_restart_the_lane_is_leased_again_and_opens(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """Redis killed and started empty: the servers reconnect, the lane's lease is
    written again, the lane is online at both servers' consoles and opens through
    either."""
    async with cluster(tmp_path, postgres_url, redis_server.url) as centres:
        a, b = centres.servers
        lane = await centres.start_lane("P1-OUT", [a.url, b.url])
        await lane.logged("lane.link.online", 1)
        await until(lambda: online_at(b))
        redis_server.kill()
        redis_server.start()
        await until(lambda: leased_to_one_of(redis_server.url, centres.servers))
        for server in (a, b):
            await until(functools.partial(online_at, server))
            opened = await open_gate(server)
            assert (opened.status_code, opened.json()["outcome"]) == (200, "done")
        verified = await centres.audit_verify()
        assert verified.startswith("ok "), verified


async def test_while_postgresql_is_down_nothing_opens_unaudited(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """PostgreSQL stopped: an open through either server is refused 503
    ``audit_failed`` and the lane's driver never lifts; started again, opens through
    both servers are done, without a restart of theirs."""
    database = PostgresServer()
    database.start()
    try:
        url = database.create_database("centre")
        journal = tmp_path / "P1-OUT.jsonl"
        async with cluster(tmp_path, url, redis_server.url) as centres:
            a, b = centres.servers
            lane = await centres.start_lane("P1-OUT", [a.url, b.url], "--state", str(journal))
            await lane.logged("lane.link.online", 1)
            await until(lambda: online_at(b))
            async with logged_in(a.url) as at_a, logged_in(b.url) as at_b:
                with psycopg.connect(url, autocommit=True) as conn:
                    conn.execute("CHECKPOINT")  # the tests' server does not wait for its WAL
                database.stop()
                for client in (at_a, at_b):
                    refused = await client.post("/api/lanes/P1-OUT/open", json=OPEN)
                    assert (refused.status_code, refused.json()["error"]) == (
                        503,
                        "audit_failed",
                    )
                assert not await ready(a)
                assert read(journal) == []
                database.start()
                for server, client in ((a, at_a), (b, at_b)):
                    await until(functools.partial(ready, server))
                    opened = await client.post("/api/lanes/P1-OUT/open", json=OPEN)
                    assert (opened.status_code, opened.json()["outcome"]) == (200, "done")
            assert [r["running"] for r in read(journal)] == [True, False, True, False]
            verified = await centres.audit_verify()
            assert verified.startswith("ok "), verified
    finally:
        database.close()


async def ready(server: Server) -> bool:
    async with httpx.AsyncClient(base_url=server.url) as client:
        return (await client.get("/readyz")).status_code == 200


async def test_a_server_cut_off_from_redis_lets_its_lane_go_before_another_takes_it(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """A reaches Redis through a proxy that is cut (and refuses new connections) while
    it holds the lane. Sampled all along: the lease in Redis and both servers'
    counts of the links they hold never show the lane held by both; A lets it go (fencing), the lane
    comes up on B and opens there. Healed, A serves again."""
    proxy = CuttableProxy(redis_server.port)
    await proxy.start()
    to_redis = {"SEAT_REDIS_URL": f"redis://127.0.0.1:{proxy.port}/0"}
    try:
        async with cluster(
            tmp_path, postgres_url, redis_server.url, server_env=[to_redis]
        ) as centres:
            a, b = centres.servers
            lane = await centres.start_lane("P1-OUT", [a.url, b.url])
            await lane.logged("lane.link.online", 1)
            assert holds(a, await holder(redis_server.url))
            samples: list[tuple[str | None, int, int]] = []

            async def moved() -> bool:
                lease, at_a, at_b = await asyncio.gather(
                    holder(redis_server.url), a.lanes_held(), b.lanes_held()
                )
                samples.append((lease, at_a, at_b))
                return holds(b, lease) and at_b == 1

            cut_at = time.monotonic()
            await proxy.cut(stay_down=True)
            await until(moved)
            print(f"\nlane held by B {time.monotonic() - cut_at:.3f} s after the cut")
            await until(lambda: online_at(b))
            opened = await open_gate(b)
            assert opened.json()["outcome"] == "done"
            # Once more while still cut: A does not take it back.
            await moved()
            assert all(at_a + at_b <= 1 for _, at_a, at_b in samples), samples
            assert not any(at_a and holds(b, lease) for lease, at_a, _ in samples), samples
            assert samples[-1][1] == 0
            proxy.restore()
            await until(lambda: ready(a))
            opened = await open_gate(a)
            assert opened.json()["outcome"] == "done"
    finally:
        await proxy.close()


async def test_a_call_ringing_at_a_killed_server_rings_at_the_other(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """The lane is linked to A, which rings the agent whose console is on A; A dies
    (SIGKILL). Once that agent's presence expires in Redis, B takes the call and rings
    bob, whose console is on B, long before the ring would have run out."""
    calls = {"SEAT_CALL_PRESENCE_S": "1", "SEAT_CALL_RING_S": "600"}
    async with cluster(
        tmp_path, postgres_url, redis_server.url, server_env=[calls, calls]
    ) as centres:
        a, b = centres.servers
        await seat(centres.env, "user", "add", "bob", "--role", "agent", stdin=PASSWORD + "\n")
        lane = await connect(link_url(a.url))
        hello = {"type": "hello", "v": 1, "lane": "P1-OUT", "token": centres.tokens["P1-OUT"]}
        await lane.send(json.dumps(hello))
        assert json.loads(await lane.recv())["type"] == "welcome"
        async with (
            logged_in(a.url) as at_a,
            logged_in(b.url, "bob") as at_b,
            tab(a.url, at_a, USERNAME) as first,
            tab(b.url, at_b, "bob") as bob,
        ):
            await lane.send('{"type":"call","event_id":"e1"}')
            ring = await first.next("ring")
            await first.next("call", lambda m: m["call"]["state"] == "ringing")
            killed_at = time.monotonic()
            await a.kill()
            moved = await bob.next("ring", timeout=30)
            print(f"\ncall rang at the other {time.monotonic() - killed_at:.3f} s after kill -9")
            assert moved["call_id"] == ring["call_id"]
            await bob.next("call", lambda m: m["call"]["offered_to"] == "bob")
        await lane.close()

        def agents(action: str) -> list[str | None]:
            return [detail.get("agent") for _, detail in centres.ledger_details(action)]

        assert len(centres.ledger_details("call_placed")) == 1
        assert agents("call_offered")[:2] == [USERNAME, "bob"]
        assert agents("call_returned")[:1] == [USERNAME]


async def test_an_open_asked_at_a_server_that_dies_for_good_is_closed_by_the_survivor(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """The lane is on B; an agent at A opens it, and A is killed while the lane lifts,
    and never starts again. B finds A gone (its presence lapsed), waits out the command
    timeout, and closes A's request as ``timeout``, as A's own start would have: one
    outcome, written by B. A started later closes nothing more."""
    journal = tmp_path / "P1-OUT.jsonl"
    quick = {"SEAT_CALL_PRESENCE_S": "1"}
    async with cluster(
        tmp_path, postgres_url, redis_server.url, server_env=[quick, quick]
    ) as centres:
        a, b = centres.servers
        lane = await centres.start_lane(
            "P1-OUT", [b.url, a.url], "--state", str(journal), "--lift-s", "2"
        )
        await lane.logged("lane.link.online", 1)
        assert holds(b, await holder(redis_server.url))
        await until(lambda: online_at(a))
        opening = asyncio.create_task(open_gate(a))
        in_flight = (await journal_shows(journal, bool))[0]["id"]
        await a.kill()
        with pytest.raises(httpx.TransportError):
            await opening
        await b.running().logged("cluster.stranded.closed", 1, timeout=60)
        assert centres.ledger_rows(in_flight) == [
            ("gate_open_requested", None),
            ("gate_open_outcome", "timeout"),
        ]
        (closed,) = [d for c, d in centres.ledger_details("gate_open_outcome") if c == in_flight]
        assert closed["closed_by"] == "centre-2"
        await a.start()
        assert centres.ledger_rows(in_flight) == [
            ("gate_open_requested", None),
            ("gate_open_outcome", "timeout"),
        ]
        starts = [d for _, d in centres.ledger_details("centre_started")]
        assert [d["closed"] for d in starts if d["server"] == "centre-1"] == [0, 0]
        verified = await centres.audit_verify()
        assert verified.startswith("ok "), verified
