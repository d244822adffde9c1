"""Three ``seat serve`` processes as one centre on one PostgreSQL database and one
Redis, lanes spread over them, one server killed (``kill -9``) with a gate command
routed to one of its lanes in flight and a call ringing there. What is asserted is
what a user sees: the lanes' leases in Redis and their own logs, the HTTP answer,
the ledger, the lane's journal, the ring on another server's console."""

from __future__ import annotations

import asyncio
import functools
import json
from pathlib import Path

from websockets.asyncio.client import connect

from bench.processes import PASSWORD, USERNAME, seat
from gates.lane.agent import link_url
from tests.centres import Server, cluster_env, deployment, holder, holds, logged_in, until
from tests.desks import tab
from tests.journals import journal_shows, read
from tests.services import RedisServer

OPEN = {"reason": "free_release"}
# Each lane is given all three servers; the order it is given them is the order it
# dials them in (``gates.lane.rotation``): the first it comes up on, the next when that
# one is lost. So the lanes start spread over the three, and the killed server's two
# lanes move to different survivors.
ORDERS = {"L-AB": "abc", "L-AC": "acb", "L-B": "bca", "L-C": "cab"}
CALLS = {"SEAT_CALL_PRESENCE_S": "1", "SEAT_CALL_RING_S": "600"}


async def test_a_killed_server_of_three_leaves_its_lanes_its_command_and_its_call_to_the_others(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """A holds L-AB (next: B) and L-AC (next: C), and rings an agent at A for a call of
    P-CALL; an agent at B opens L-AB, and A is killed while the lane lifts. The open is
    answered ``timeout`` or ``lane_offline`` and ran once (the lane's journal); L-AB comes
    back on B, L-AC on C, the others stay where they were; the call rings bob at B; the
    ledger verifies."""
    journal = tmp_path / "L-AB.jsonl"
    env = cluster_env(postgres_url, redis_server.url)
    async with deployment(
        tmp_path / "data",
        [*ORDERS, "P-CALL"],
        hosts=("127.0.0.1",) * 3,
        env=env,
        server_env=[CALLS] * 3,
    ) as centres:
        a, b, c = centres.servers
        by_letter = dict(zip("abc", centres.servers, strict=True))
        await seat(centres.env, "user", "add", "bob", "--role", "agent", stdin=PASSWORD + "\n")
        lanes = await asyncio.gather(
            *(
                centres.start_lane(
                    lane,
                    [",".join(by_letter[letter].url for letter in order)],
                    *(("--state", str(journal), "--lift-s", "2") if lane == "L-AB" else ()),
                )
                for lane, order in ORDERS.items()
            )
        )
        await asyncio.gather(*(lane.logged("lane.link.online", 1) for lane in lanes))
        for lane, order in ORDERS.items():
            assert holds(by_letter[order[0]], await holder(redis_server.url, lane)), lane

        # The call lane, linked to A, presses its button: A rings the agent there.
        call_lane = await connect(link_url(a.url))
        hello = {"type": "hello", "v": 1, "lane": "P-CALL", "token": centres.tokens["P-CALL"]}
        await call_lane.send(json.dumps(hello))
        assert json.loads(await call_lane.recv())["type"] == "welcome"
        async with (
            logged_in(a.url) as at_a,
            logged_in(b.url) as agent_at_b,
            logged_in(b.url, "bob") as bob_at_b,
            tab(a.url, at_a, USERNAME) as first,
            tab(b.url, bob_at_b, "bob") as bob,
        ):
            await call_lane.send('{"type":"call","event_id":"e1"}')
            ring = await first.next("ring", lambda m: m["call"]["lane_id"] == "P-CALL")
            await first.next("call", lambda m: m["call"]["id"] == ring["call_id"])

            opening = asyncio.create_task(agent_at_b.post("/api/lanes/L-AB/open", json=OPEN))
            in_flight = (await journal_shows(journal, bool))[0]["id"]
            await a.kill()

            answer = await opening
            assert answer.status_code == 200, answer.text
            assert answer.json()["outcome"] in {"timeout", "lane_offline"}
            assert answer.json()["command_id"] == in_flight
            moved = await bob.next("ring", lambda m: m["call_id"] == ring["call_id"], 30)
            assert moved["call"]["lane_id"] == "P-CALL"
        await call_lane.close()

        # Every lane of A is back, on the next server its order names.
        moved_to = {"L-AB": b, "L-AC": c, "L-B": b, "L-C": c}
        for lane, server in moved_to.items():
            await until(functools.partial(leased_by, redis_server.url, lane, server))
        assert [await s.lanes_held() for s in (b, c)] == [2, 2]
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
            opened = await at_b.post("/api/lanes/L-AB/open", json=OPEN)
        assert opened.json()["outcome"] == "done"
        assert [r["id"] for r in read(journal)].count(in_flight) == 2
        verified = await centres.audit_verify()
        assert verified.startswith("ok "), verified


async def leased_by(redis_url: str, lane: str, server: Server) -> bool:
    return holds(server, await holder(redis_url, lane))
