"""One renewal round of a server's lane leases, in process, against a real Redis.

A server renews every lease it holds every quarter of the lease's life
(``console.cluster.holding``); if a round cannot finish before the leases' safe time,
the server lets its lanes go. This measures the round the keeper runs
(``LaneHolding.renew``: the leases read, the one script call, its reply applied) on a
server holding 100, 1,000 and 2,000 leases, with the bench's own Redis
(``tests/services.py``) and nothing else on the event loop:

- ``round``: wall time of one round, median of ``--rounds``;
- ``cpu``: this process's CPU per round (building the request, reading the reply,
  applying it): what the event loop cannot spend on the lanes meanwhile;
- ``redis``: Redis's own time per round (its ``INFO commandstats``), during which
  it answers no other server.

The baseline is the round of 100 leases.

    python bench/lease_renewal.py [--rounds 50] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import time
from pathlib import Path

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` and ``tests`` are packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import redis.asyncio as redis

from bench.figures import Figures, measure_and_print
from console.cluster.holding import LaneHolding
from console.cluster.lease_rules import LeasePolicy
from console.cluster.leases import key
from console.cluster.redis_link import RedisLink
from console.cluster.requests import Requests
from console.cluster.servers import Servers
from gates.centre.hub import LaneHub
from tests.services import RedisServer

SIZES = (100, 1000, 2000)
# Long enough that no lease falls due while the bench runs: only the rounds renew them.
LEASE_S = 600.0


async def _no_lane_connects(lane: str, token: str) -> bool:
    """No lane links here: the leases are taken by the bench, as a welcome would."""
    return False


async def _redis_usec(client: redis.Redis) -> tuple[int, int]:
    """Redis's calls and microseconds spent on scripts so far (EVAL and EVALSHA)."""
    stats = await client.info("commandstats")
    calls = usec = 0
    for name in ("cmdstat_eval", "cmdstat_evalsha"):
        if name in stats:
            calls += int(stats[name]["calls"])
            usec += int(stats[name]["usec"])
    return calls, usec


async def _measure_size(holding: LaneHolding, client: redis.Redis, n: int, rounds: int) -> Figures:
    lanes = [f"P{i:04d}-IN" for i in range(n)]
    for lane in lanes:
        if not await holding.claim(lane):
            raise RuntimeError(f"lease of {lane} not taken")
    await holding.renew()  # the script loaded, the connection warm
    walls: list[float] = []
    calls_before, usec_before = await _redis_usec(client)
    cpu_before = time.process_time()
    for _ in range(rounds):
        began = time.perf_counter()
        await holding.renew()
        walls.append(time.perf_counter() - began)
    cpu = time.process_time() - cpu_before
    calls_after, usec_after = await _redis_usec(client)
    if calls_after - calls_before != rounds:
        raise RuntimeError(f"{calls_after - calls_before} script calls for {rounds} rounds")
    if len(holding.tenure.held) != n:
        raise RuntimeError(f"{len(holding.tenure.held)} leases held of {n}")
    await client.delete(*(key(lane) for lane in lanes))
    for lane in lanes:
        holding.tenure.let_go(lane)
    return {
        "round_ms": statistics.median(walls) * 1000,
        "cpu_ms": cpu / rounds * 1000,
        "redis_ms": (usec_after - usec_before) / rounds / 1000,
    }


async def measure(rounds: int) -> Figures:
    server = RedisServer()
    await asyncio.to_thread(server.start)
    try:
        link = RedisLink(server.url, "s-bench")
        requests = Requests(link)
        policy = LeasePolicy(LEASE_S)
        servers = Servers(link, "s-bench", policy.ttl_s * 3, policy.renew_s)  # never started
        holding = LaneHolding(link, requests, LaneHub(_no_lane_connects), policy, servers)
        await link.start()
        try:
            await asyncio.wait_for(link.wait_up(), 10)
            return {str(n): await _measure_size(holding, link.client, n, rounds) for n in SIZES}
        finally:
            await requests.close()
            await link.close()
    finally:
        await asyncio.to_thread(server.close)


def report(result: Figures) -> list[str]:
    base = result[str(SIZES[0])]
    lines = []
    for n in SIZES:
        figures = result[str(n)]
        for name, unit in (("round", "ms"), ("cpu", "ms"), ("redis", "ms")):
            value = figures[f"{name}_ms"]
            ratio = value / base[f"{name}_ms"] if base[f"{name}_ms"] else float("nan")
            lines.append(f"renewal_{name}_{n}: {value:.3f} {unit} ({ratio:.2f}x {SIZES[0]} leases)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--rounds", type=int, default=50)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    measure_and_print(lambda: measure(args.rounds), report, as_json=args.json)


if __name__ == "__main__":
    main()
