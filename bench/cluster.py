"""Several servers as one centre, measured: PostgreSQL store, Redis live state.

Starts its own PostgreSQL (every commit durable) and Redis, seeds the lanes and an
agent account in the database, and measures, in one run:

- ``throughput_1``: one ``seat serve`` with every lane, opens with 20 in flight;
- then three servers on the database, the lanes (one fleet process, each lane given
  every server, its first one rotated so the lanes spread evenly) wherever their leases
  put them, an agent logged in on each server:
  * same-server against cross-server gate-command latency, interleaved pair by pair;
  * ``throughput_3``: 20 in flight spread over the three servers;
  * failover: one server killed (SIGKILL) while opens flow at a steady rate through
    the other two to every lane; ``failover_s`` from the kill until each of its lanes
    is held by a survivor and shown online there, ``failover_spread`` how many each
    survivor took, with ``lost`` (commands with no outcome) and ``executed_twice``
    (command ids a lane's driver ran twice).

The lanes' heartbeat and the lease life are options, so the failover target (under two
heartbeats after the lease expired) can be checked against what was run.

    python bench/cluster.py     # 2,000 lanes: 5 to 13 minutes, mostly lanes connecting
    python bench/cluster.py --lanes 300 --commands 1000 --samples 200   # a quick one
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import statistics
import sys
import tempfile
import time
from contextlib import AsyncExitStack
from pathlib import Path
from typing import Any

import redis.asyncio as redis

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` and ``tests`` are packages.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.cluster_load import Agent, SteadyFlow, closed_loop, interleaved, max_pttl_s, wait_held
from bench.figures import measure_and_print
from bench.gate_latency import cpu_seconds, percentile, seed_store
from bench.processes import Process
from console.pg_store import PostgresStore
from tests.centres import Server
from tests.services import PostgresServer, RedisServer, free_port

IN_FLIGHT = 20
CROSS_P99_TARGET = 1.5
LANE_START_S = 180.0  # for two thousand lanes to connect and be leased on two cores


def machine_busy_s() -> float:
    """CPU seconds all cores spent busy (Linux ``/proc/stat``), every process counted,
    the bench's and any other's on the machine."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]
    return (sum(fields[:8]) - idle) / os.sysconf("SC_CLK_TCK")


def tree_cpu_s(roots: set[int]) -> float:
    """CPU seconds of ``roots`` and their children (PostgreSQL's backends are children
    of its postmaster) that are alive now."""
    parents: dict[int, int] = {}
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            parents[int(stat.parent.name)] = int(stat.read_text().rsplit(")", 1)[1].split()[1])
        except (OSError, ValueError, IndexError):
            continue  # a process that ended while being listed
    total = 0.0
    for pid, parent in parents.items():
        if pid in roots or parent in roots:
            try:
                total += cpu_seconds(pid)
            except OSError:
                continue
    return total


async def services(stack: AsyncExitStack) -> tuple[str, str, set[int]]:
    """The bench's own PostgreSQL and Redis, closed with ``stack``; their URLs and
    pids."""
    postgres = await asyncio.to_thread(PostgresServer, durable=True)
    stack.callback(postgres.close)
    await asyncio.to_thread(postgres.start)
    database = await asyncio.to_thread(postgres.create_database, "seat")
    cache = RedisServer()
    stack.callback(cache.close)
    await asyncio.to_thread(cache.start)
    assert postgres.process is not None and cache.process is not None
    return database, cache.url, {postgres.process.pid, cache.process.pid}


class Cluster:
    """The servers, the lane fleet and the agents of one run."""

    def __init__(self, stack: AsyncExitStack, env: dict[str, str], args: argparse.Namespace):
        self.stack = stack
        self.env = env
        self.args = args
        self.servers: list[Server] = []
        self.agents: list[Agent] = []
        self.fleet_process: Process | None = None

    async def add_server(self) -> Server:
        server = Server(f"centre {len(self.servers) + 1}", "127.0.0.1", free_port(), self.env)
        self.servers.append(server)
        self.stack.push_async_callback(server.stop)
        await server.start()
        self.agents.append(await Agent.login(server.name, server.port, server.running().pid))
        return server

    async def fleet(self, servers: list[Server], tokens: Path) -> Process:
        urls = ",".join(server.url for server in servers)
        pace = ["--heartbeat-ms", str(self.args.heartbeat_ms), "--ramp", str(self.args.ramp)]
        args = ["bench.lane_fleet", urls, str(tokens), *pace]
        fleet = await Process.start("fleet", args, self.env, pipes=True)
        self.fleet_process = fleet
        self.stack.push_async_callback(fleet.stop)
        return fleet

    async def all_up(
        self,
        client: redis.Redis,
        lanes: list[str],
        pids: set[int],
        fleet: Process,
        timeout: float = LANE_START_S,
        every: float = 0.5,
    ) -> dict[str, int | None]:
        """Every lane held and online; on failure, with what the processes said last."""
        try:
            return await wait_held(client, lanes, pids, timeout, every)
        except RuntimeError as exc:
            every_process = [fleet, *(s.process for s in self.servers if s.process)]
            tails = [f"--- {p.name}:\n" + "\n".join(p.tail) for p in every_process]
            raise RuntimeError("\n".join([str(exc), *tails])) from None


async def fleet_report(fleet: Process) -> dict[str, Any]:
    """The fleet's executions (``bench.lane_fleet``), then the fleet stopped."""
    process = fleet.process
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(b"report\n")
    await process.stdin.drain()
    line = await asyncio.wait_for(process.stdout.readline(), 60)
    await fleet.stop()
    report: dict[str, Any] = json.loads(line)
    return report


async def throughput(
    agents: list[Agent], lanes: list[str], commands: int, servers: set[int], own: set[int]
) -> dict[str, Any]:
    """Opens with ``IN_FLIGHT`` in flight; commands/s, and CPU per command: of the
    servers, of every process of the bench (servers, lanes, PostgreSQL, Redis, this
    client), and the machine's busy cores, other users' work included."""
    before = tree_cpu_s(servers), tree_cpu_s(own), machine_busy_s()
    tally, wall = await closed_loop(agents, lanes, commands, IN_FLIGHT, seed=2)
    after = tree_cpu_s(servers), tree_cpu_s(own), machine_busy_s()
    servers_cpu, bench_cpu, machine = (a - b for a, b in zip(after, before, strict=True))
    done = len(tally.latencies_ms)
    return {
        "cps": round(done / wall, 1),
        "p50_ms": round(statistics.median(tally.latencies_ms), 2),
        "p99_ms": round(percentile(tally.latencies_ms, 99), 2),
        "outcomes": dict(tally.outcomes),
        "server_cpu_ms_per_command": round(1000 * servers_cpu / done, 3),
        "bench_cpu_ms_per_command": round(1000 * bench_cpu / done, 3),
        "bench_busy_cores": round(bench_cpu / wall, 2),
        "machine_busy_cores": round(machine / wall, 2),
    }


async def failover(
    cluster: Cluster, client: redis.Redis, held: dict[str, int | None], rate: float
) -> dict[str, Any]:
    """Kill the first server while opens flow through the others to every lane."""
    victim, survivors = cluster.servers[0], cluster.servers[1:]
    victim_pid = victim.running().pid
    orphans = [lane for lane, pid in held.items() if pid == victim_pid]
    alive = {server.running().pid for server in survivors}
    flow = SteadyFlow(cluster.agents[1:], list(held), rate, seed=3)
    flowing = asyncio.create_task(flow.run())
    await asyncio.sleep(2.0)  # steady traffic before the kill: the window measured
    await victim.kill()
    killed = time.perf_counter()
    lease_left_s = await max_pttl_s(client, orphans)
    assert cluster.fleet_process is not None
    moved = await cluster.all_up(
        client, orphans, alive, cluster.fleet_process, timeout=60.0, every=0.05
    )
    failover_s = time.perf_counter() - killed
    await asyncio.sleep(2.0)  # and after it, so commands to the moved lanes are counted
    flow.stop()
    await flowing
    heartbeat_s = cluster.args.heartbeat_ms / 1000
    return {
        "failover_s": round(failover_s, 2),
        "failover_lanes": len(orphans),
        "failover_spread": [
            sum(pid == server.running().pid for pid in moved.values()) for server in survivors
        ],
        "lease_s": cluster.args.lease_s,
        "heartbeat_s": heartbeat_s,
        "lease_left_at_kill_s": round(lease_left_s, 2),
        "failover_after_lease_s": round(failover_s - lease_left_s, 2),
        "failover_target_s": 2 * heartbeat_s,
        "failover_commands": flow.sent,
        "failover_outcomes": dict(flow.tally.outcomes),
        "lost": flow.tally.lost,
    }


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    async with AsyncExitStack() as stack:
        tmp = Path(stack.enter_context(tempfile.TemporaryDirectory(prefix="seat-cluster-")))
        database, redis_url, service_pids = await services(stack)
        store = await PostgresStore.open(database)
        try:
            tokens = await seed_store(store, args.lanes)
        finally:
            await store.close()
        lanes = list(tokens)
        tokens_file = tmp / "lanes.json"
        tokens_file.write_text(json.dumps(tokens))
        env = {
            **os.environ,
            "SEAT_DATA_DIR": str(tmp),
            "SEAT_DATABASE_URL": database,
            "SEAT_REDIS_URL": redis_url,
            "SEAT_LANE_LEASE_S": str(args.lease_s),
            "SEAT_LOG_LEVEL": "WARNING",
        }
        client = redis.Redis.from_url(redis_url)
        stack.push_async_callback(client.aclose)
        cluster = Cluster(stack, env, args)
        result: dict[str, Any] = {"lanes": args.lanes, "in_flight": IN_FLIGHT}

        first = await cluster.add_server()
        pids = [first.running().pid]
        fleet = await cluster.fleet([first], tokens_file)
        await cluster.all_up(client, lanes, set(pids), fleet)
        own = {*pids, *service_pids, fleet.pid, os.getpid()}
        result["one"] = await throughput(cluster.agents, lanes, args.commands, set(pids), own)
        result["one_executed_twice"] = len((await fleet_report(fleet))["repeated"])

        for _ in range(2):
            await cluster.add_server()
        pids = [server.running().pid for server in cluster.servers]
        fleet = await cluster.fleet(cluster.servers, tokens_file)
        held = await cluster.all_up(client, lanes, set(pids), fleet)
        result["lanes_per_server"] = [sum(h == pid for h in held.values()) for pid in pids]
        same, cross = await interleaved(cluster.agents, held, args.samples, seed=1)
        result["same_p50_ms"] = round(statistics.median(same), 2)
        result["same_p99_ms"] = round(percentile(same, 99), 2)
        result["cross_p50_ms"] = round(statistics.median(cross), 2)
        result["cross_p99_ms"] = round(percentile(cross, 99), 2)
        result["cross_p99_ratio"] = round(result["cross_p99_ms"] / result["same_p99_ms"], 2)
        own = {*pids, *service_pids, fleet.pid, os.getpid()}
        result["three"] = await throughput(cluster.agents, lanes, args.commands, set(pids), own)
        result.update(await failover(cluster, client, held, args.rate))
        executions = await fleet_report(fleet)
        result["executed_twice"] = len(executions["repeated"])
        result["executed_commands"] = executions["commands"]
        result["throughput_1"] = result["one"]["cps"]
        result["throughput_3"] = result["three"]["cps"]
        result["scaling"] = round(result["throughput_3"] / result["throughput_1"], 2)
        return result


def report(result: dict[str, Any]) -> list[str]:
    """``name: value unit (ratio vs baseline)``: cross-server latency against the same
    server's, three servers' throughput against one's, failover against its target."""
    r = result
    one, three = r["one"], r["three"]
    return [
        f"same_server_p50: {r['same_p50_ms']} ms (p99 {r['same_p99_ms']} ms)",
        f"cross_server_p50: {r['cross_p50_ms']} ms "
        f"({round(r['cross_p50_ms'] / r['same_p50_ms'], 2)}x same server)",
        f"cross_server_p99: {r['cross_p99_ms']} ms "
        f"({r['cross_p99_ratio']}x same server, target {CROSS_P99_TARGET}x)",
        f"throughput_1: {r['throughput_1']} commands/s ({one['server_cpu_ms_per_command']} ms "
        f"server CPU, {one['bench_cpu_ms_per_command']} ms all processes' per command; "
        f"{one['bench_busy_cores']} cores busy with it, {one['machine_busy_cores']} in all)",
        f"throughput_3: {r['throughput_3']} commands/s ({three['server_cpu_ms_per_command']} ms "
        f"server CPU, {three['bench_cpu_ms_per_command']} ms all processes' per command; "
        f"{three['bench_busy_cores']} cores busy with it, {three['machine_busy_cores']} in all)",
        f"scaling: {r['scaling']}x (throughput_3 / throughput_1, on {os.cpu_count()} cores)",
        f"failover: {r['failover_s']} s for {r['failover_lanes']} lanes "
        f"({r['failover_after_lease_s']} s after the lease expired, target "
        f"< {r['failover_target_s']} s; lease {r['lease_s']} s, heartbeat {r['heartbeat_s']} s)",
        f"failover_spread: {r['failover_spread']} lanes taken by each survivor "
        f"({round(max(r['failover_spread']) / r['failover_lanes'], 2)} of them by the busiest)",
        f"lost: {r['lost']} commands of {r['failover_commands']} during failover "
        f"(outcomes {r['failover_outcomes']})",
        f"executed_twice: {r['executed_twice']} commands "
        f"(of {r['executed_commands']} executed; one server: {r['one_executed_twice']})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lanes", type=int, default=2000)
    parser.add_argument("--commands", type=int, default=3000, help="per throughput figure")
    parser.add_argument("--samples", type=int, default=500, help="same/cross pairs")
    parser.add_argument("--rate", type=float, default=100.0, help="opens/s during failover")
    parser.add_argument("--lease-s", type=float, default=12.5, help="SEAT_LANE_LEASE_S")
    parser.add_argument("--heartbeat-ms", type=int, default=5000, help="the lanes' heartbeat")
    parser.add_argument("--ramp", type=float, default=200.0, help="lanes started per second")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    measure_and_print(lambda: bench(args), report, as_json=args.json)


if __name__ == "__main__":
    main()
