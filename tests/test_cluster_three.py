"""Three ``seat serve`` processes as one centre on one PostgreSQL database and one
Redis, lanes spread over them, one server killed (``kill -9``) with a gate command
routed to one of its lanes in flight and a call ringing there. What is asserted is
what a user sees: the lanes' leases in Redis and their own logs, the HTTP answer,
the ledger, the lane's journal, the ring on another server's console."""

from __future__ import annotations

import asyncio
import functools
import itertools
import json
from pathlib import Path

from websockets.asyncio.client import connect

from bench.processes import PASSWORD, USERNAME, seat
from gates.lane.agent import link_url
from gates.lane.rotation import dial_order
from tests.centres import Server, cluster_env, deployment, holder, holds, logged_in, until
from tests.desks import tab
from tests.journals import journal_shows, read
from tests.services import RedisServer

OPEN = {"reason": "free_release"}
# Each lane is given all three servers, its home first: it comes up there, and when its
# home is lost it dials the others in its own order (``gates.lane.rotation.dial_order``,
# by its id and the servers' URLs), so the lanes of a dead server spread over the
# survivors rather than all onto one. B's lane and C's; A's two are named once the
# servers' ports are known, so that their orders part.
HOMES = {"L-B": 1, "L-C": 2}
CALLS = {"SEAT_CALL_PRESENCE_S": "1", "SEAT_CALL_RING_S": "600"}


async def test_a_killed_server_of_three_leaves_its_lanes_its_command_and_its_call_to_the_others(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """A holds two lanes, and rings an agent at A for a call of P-CALL; an agent at B
    opens the first, and A is killed while the lane lifts. The open is answered
    ``timeout`` or ``lane_offline`` and ran once (the lane's journal); each of A's lanes
    comes back on the survivor its dial order names next, the others stay where they
    were; the call rings bob at B; the ledger verifies."""
    journal = tmp_path / "journal.jsonl"
    env = cluster_env(postgres_url, redis_server.url)
    async with deployment(
        tmp_path / "data",
        [*HOMES, "P-CALL"],
        hosts=("127.0.0.1",) * 3,
        env=env,
        server_env=[CALLS] * 3,
    ) as centres:
        a, b, c = centres.servers
        first, second = parting(a, centres.servers)
        homes = {first: 0, second: 0, **HOMES}
        await asyncio.gather(
            seat(centres.env, "user", "add", "bob", "--role", "agent", stdin=PASSWORD + "\n"),
            centres.add_lane(first),
            centres.add_lane(second),
        )
        lanes = await asyncio.gather(
            *(
                centres.start_lane(
                    lane,
                    [",".join(s.url for s in ordered(centres.servers, home))],
                    *(("--state", str(journal), "--lift-s", "2") if lane == first else ()),
                )
                for lane, home in homes.items()
            )
        )
        await asyncio.gather(*(lane.logged("lane.link.online", 1) for lane in lanes))
        for lane, home in homes.items():
            assert holds(centres.servers[home], await holder(redis_server.url, lane)), lane

        # The call lane, linked to A, presses its button: A rings the agent there.
        call_lane = await connect(link_url(a.url))
        hello = {"type": "hello", "v": 1, "lane": "P-CALL", "token": centres.tokens["P-CALL"]}
        await call_lane.send(json.dumps(hello))
        assert json.loads(await call_lane.recv())["type"] == "welcome"
        async with (
            logged_in(a.url) as at_a,
            logged_in(b.url) as agent_at_b,
            logged_in(b.url, "bob") as bob_at_b,
            tab(a.url, at_a, USERNAME) as rung,
            tab(b.url, bob_at_b, "bob") as bob,
        ):
            await call_lane.send('{"type":"call","event_id":"e1"}')
            ring = await rung.next("ring", lambda m: m["call"]["lane_id"] == "P-CALL")
            await rung.next("call", lambda m: m["call"]["id"] == ring["call_id"])

            opening = asyncio.create_task(agent_at_b.post(f"/api/lanes/{first}/open", json=OPEN))
            in_flight = (await journal_shows(journal, bool))[0]["id"]
            await a.kill()

            answer = await opening
            assert answer.status_code == 200, answer.text
            assert answer.json()["outcome"] in {"timeout", "lane_offline"}
            assert answer.json()["command_id"] == in_flight
            moved = await bob.next("ring", lambda m: m["call_id"] == ring["call_id"], 30)
            assert moved["call"]["lane_id"] == "P-CALL"
        await call_lane.close()

        # Each lane of A is back, on the survivor its dial order names next: one on
        # each.
        moved_to = {lane: next_after(a, lane, centres.servers) for lane in (first, second)}
        assert sorted(server.name for server in moved_to.values()) == [b.name, c.name]
        for lane, server in {**moved_to, "L-B": b, "L-C": c}.items():
            await until(functools.partial(leased_by, redis_server.url, lane, server))
        assert [await b.lanes_held(), await c.lanes_held()] == [2, 2]
        for process in lanes[:2]:
            await process.logged("lane.link.online", 2)
        assert [process.seen("lane.link.online") for process in lanes[2:]] == [1, 1]

        # The open in flight ran once, and has one outcome in the ledger.
        records = await journal_shows(journal, lambda records: len(records) == 2)
        assert [(r["id"], r["running"]) for r in records] == [(in_flight, True), (in_flight, False)]
        rows = centres.ledger_rows(in_flight)
        assert rows == [
            ("gate_open_requested", None),
            ("gate_open_outcome", answer.json()["outcome"]),
        ]
        async with logged_in(b.url) as at_b:
            opened = await at_b.post(f"/api/lanes/{first}/open", json=OPEN)
        assert opened.json()["outcome"] == "done"
        assert [r["id"] for r in read(journal)].count(in_flight) == 2
        verified = await centres.audit_verify()
        assert verified.startswith("ok "), verified


def parting(dead: Server, servers: list[Server]) -> tuple[str, str]:
    """Two lane ids whose dial orders, given ``servers`` with ``dead`` first, name
    different servers next."""
    names = (f"L-A{n}" for n in itertools.count(1))
    first = next(names)
    taken = next_after(dead, first, servers)
    return first, next(name for name in names if next_after(dead, name, servers) != taken)


def ordered(servers: list[Server], home: int) -> list[Server]:
    """The three, ``home`` first."""
    return [servers[home], *(s for n, s in enumerate(servers) if n != home)]


def next_after(dead: Server, lane: str, servers: list[Server]) -> Server:
    """The server ``lane`` dials when ``dead``, its home, is lost: the next in its
    dial order."""
    links = {link_url(s.url): s for s in servers}
    home = link_url(dead.url)
    order = dial_order(lane, [home, *(link for link in links if link != home)])
    return links[order[1]]


async def leased_by(redis_url: str, lane: str, server: Server) -> bool:
    return holds(server, await holder(redis_url, lane))
