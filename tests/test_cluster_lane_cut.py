"""Two ``seat serve`` processes as one centre on one PostgreSQL database and one Redis,
one of them cut off from its lanes and from nothing else: the lanes reach A through a
TCP relay (``tests.netproxy``) that goes silent, as a network that drops every packet
between the car park and A's machine, while A still reaches Redis and PostgreSQL and
still holds the lanes' leases. What is asserted is what a user sees: which server each
lane's lease names in Redis, how many lane links each server says it holds
(``/metrics``), the lanes' own logs, HTTP answers, the ledger, the lanes' journals."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path

from redis.asyncio import Redis

from console.cluster.leases import key
from tests.centres import cluster_env, deployment, holds, logged_in, until
from tests.journals import read
from tests.netproxy import CuttableProxy
from tests.services import RedisServer

OPEN = {"reason": "free_release"}
LANES = ("L1", "L2")


async def test_lanes_cut_off_from_their_server_come_up_on_the_other_never_held_twice(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> None:
    """The lanes, on A through the relay, fail over to B once their pings go unanswered;
    A lets them go (B asks it to, or it finds them silent itself) and B takes their
    leases. Sampled all along: no server holds more lane links than Redis gives it
    leases, so no lane is held by both. Opens asked at A and at B while the lanes are
    cut off each get an outcome, and none reached a lane; once on B, the lanes open."""
    async with deployment(
        tmp_path / "data", LANES, env=cluster_env(postgres_url, redis_server.url)
    ) as centres:
        a, b = centres.servers
        proxy = CuttableProxy(a.port)
        await proxy.start()
        try:
            journals = {lane: tmp_path / f"{lane}.jsonl" for lane in LANES}
            processes = await asyncio.gather(
                *(
                    centres.start_lane(
                        lane,
                        [f"http://127.0.0.1:{proxy.port}", b.url],
                        "--state",
                        str(journals[lane]),
                    )
                    for lane in LANES
                )
            )
            await asyncio.gather(*(p.logged("lane.link.online", 1) for p in processes))
            assert [holds(a, lease) for lease in await leases(redis_server.url)] == [True, True]
            samples: list[tuple[int, list[str | None], int]] = []

            async def moved() -> bool:
                # B's count first, A's last: a lane moving from A to B between the
                # reads is then counted at neither, never at both.
                at_b = await b.lanes_held()
                held = await leases(redis_server.url)
                at_a = await a.lanes_held()
                samples.append((at_b, held, at_a))
                return at_b == len(LANES) and all(holds(b, lease) for lease in held)

            async with logged_in(a.url) as at_a, logged_in(b.url) as at_b:
                cut_at = time.monotonic()
                proxy.silence()
                opens = asyncio.gather(
                    at_a.post("/api/lanes/L1/open", json=OPEN),
                    at_b.post("/api/lanes/L2/open", json=OPEN),
                )
                await until(moved)
                print(f"\nlanes held by B {time.monotonic() - cut_at:.3f} s after the cut")
                asked = list(await opens)
                await moved()
                for lane in LANES:
                    opened = await at_b.post(f"/api/lanes/{lane}/open", json=OPEN)
                    assert opened.json()["outcome"] == "done", opened.text
                    asked.append(opened)
            for at_b_count, held, at_a_count in samples:
                assert at_b_count <= sum(holds(b, lease) for lease in held), samples
                assert at_a_count <= sum(holds(a, lease) for lease in held), samples
            assert samples[-1][2] == 0
            for process in processes:
                await process.logged("lane.link.failover", 1)

            # Each open has one outcome in the ledger, and the lane ran those that
            # were done, once each, and none other. An open asked as the cut began is
            # lost with the silent link (``lane_offline``, or ``timeout`` if A did not
            # let the lane go first); one that reached B after the lane did is done.
            ran = [r["id"] for j in journals.values() for r in read(j)]
            for answer in asked:
                assert answer.status_code == 200, answer.text
                outcome, command_id = answer.json()["outcome"], answer.json()["command_id"]
                assert outcome in {"done", "timeout", "lane_offline"}, answer.text
                assert centres.ledger_rows(command_id) == [
                    ("gate_open_requested", None),
                    ("gate_open_outcome", outcome),
                ]
                assert ran.count(command_id) == (2 if outcome == "done" else 0), ran
            assert len(ran) == 2 * [answer.json()["outcome"] for answer in asked].count("done")
            verified = await centres.audit_verify()
            assert verified.startswith("ok "), verified
        finally:
            await proxy.close()


async def leases(redis_url: str) -> list[str | None]:
    """The server each lane's lease names, in ``LANES``' order, read at one instant."""
    async with Redis.from_url(redis_url, decode_responses=True) as redis:
        values = await redis.mget([key(lane) for lane in LANES])
    return [None if value is None else str(value) for value in values]
