"""The load ``bench/cluster.py`` puts on several servers, and what it reads of them.

Gate commands go out over ``gate_latency``'s lean HTTP client, each server with its own
logged-in agent. Which server holds a lane is read from Redis (the lane's lease names
its holder, ``host-pid-random``), never assumed from where the lane dialled first.
"""

from __future__ import annotations

import asyncio
import itertools
import json
import random
import sys
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field

import redis.asyncio as redis

from bench.gate_latency import HttpConnection, login
from console.cluster.envelope import open_as
from console.cluster.lanes import STATUS_KEY
from console.cluster.leases import key
from console.cluster.status_wire import StatusReport

BODY = json.dumps({"reason": "equipment_fault", "note": "bench"}).encode()


@dataclass
class Agent:
    """An agent logged in on one server."""

    name: str
    port: int
    pid: int
    headers: dict[str, str]

    @classmethod
    async def login(cls, name: str, port: int, pid: int) -> Agent:
        return cls(name, port, pid, await login(port))

    async def connect(self) -> HttpConnection:
        return await HttpConnection.open(self.port)


@dataclass
class Tally:
    """Commands by how they ended: an outcome the centre gave, or ``lost`` when an
    answer carried none (an HTTP error, a dropped connection)."""

    outcomes: Counter[str] = field(default_factory=Counter)
    latencies_ms: list[float] = field(default_factory=list)
    joined: int = 0

    @property
    def lost(self) -> int:
        return self.outcomes["lost"]

    async def send(self, connection: HttpConnection, agent: Agent, lane: str) -> bool:
        """One open; False when the connection broke and cannot be used again."""
        started = time.perf_counter()
        answer: dict[str, object] = {}
        usable = True
        try:
            _, _, payload = await connection.request(
                "POST", f"/api/lanes/{lane}/open", BODY, agent.headers
            )
            answer = json.loads(payload)
        except (OSError, asyncio.IncompleteReadError, ValueError, IndexError):
            usable = False
        self.latencies_ms.append((time.perf_counter() - started) * 1000)
        self.outcomes[str(answer.get("outcome", "lost"))] += 1
        self.joined += bool(answer.get("joined"))
        return usable


class Pool:
    """Keep-alive connections to one agent's server. The server closes a connection
    idle for 5 s (uvicorn's default), and a request written to it then would be lost
    by the client, not the centre: one idle for 4 s is closed here instead."""

    IDLE_S = 4.0

    def __init__(self, agent: Agent) -> None:
        self.agent = agent
        self._idle: list[tuple[float, HttpConnection]] = []

    async def send(self, tally: Tally, lane: str) -> None:
        try:
            connection = await self._take()
        except OSError:  # the server refused the connection: no answer at all
            tally.outcomes["lost"] += 1
            return
        if await tally.send(connection, self.agent, lane):
            self._idle.append((time.monotonic(), connection))
        else:
            connection.close()

    async def _take(self) -> HttpConnection:
        while self._idle:
            since, connection = self._idle.pop()
            if time.monotonic() - since < self.IDLE_S:
                return connection
            connection.close()
        return await self.agent.connect()

    def close(self) -> None:
        for _, connection in self._idle:
            connection.close()
        self._idle.clear()


def lane_cycle(lanes: list[str], seed: int) -> Iterator[str]:
    """Every lane once per round, in a new shuffled order each round: a lane opened
    again within ``SEAT_OPEN_JOIN_S`` would join its last open rather than lift."""
    rng = random.Random(seed)
    while True:
        yield from rng.sample(lanes, len(lanes))


# ------------------------------------------------------------------ what Redis says


def holder_pid(server_id: str) -> int:
    """The pid in a server id ``host-pid-random`` (the host may hold dashes)."""
    return int(server_id.rsplit("-", 2)[1])


async def holders(client: redis.Redis, lanes: list[str]) -> dict[str, int | None]:
    """Each lane's holder's pid, None for a lane no server holds."""
    values = await client.mget([key(lane) for lane in lanes])
    return {
        lane: None
        if value is None
        else holder_pid(value if isinstance(value, str) else value.decode())
        for lane, value in zip(lanes, values, strict=True)
    }


async def online_at(client: redis.Redis, lanes: list[str]) -> dict[str, int | None]:
    """Each lane's server's pid where the lane's published status is online, else None."""
    values = await client.hmget(STATUS_KEY, lanes)
    found: dict[str, int | None] = {}
    for lane, value in zip(lanes, values, strict=True):
        if value is None:
            found[lane] = None
            continue
        report = open_as(value, StatusReport)
        found[lane] = holder_pid(report.sender) if report.body.status.online else None
    return found


async def max_pttl_s(client: redis.Redis, lanes: list[str]) -> float:
    """The longest time any of these lanes' leases has left, in seconds."""
    async with client.pipeline(transaction=False) as pipe:
        for lane in lanes:
            pipe.pttl(key(lane))
        ttls: list[int] = await pipe.execute()
    return max(0, *ttls) / 1000


async def wait_held(
    client: redis.Redis, lanes: list[str], pids: set[int], timeout: float, every: float
) -> dict[str, int | None]:
    """Until every lane is held by one of ``pids`` and shown online by it; the holders.
    Polls Redis every ``every`` seconds, as another program would: the state is the
    servers'. Says how many are up every ten seconds, as two thousand take a while."""
    started = time.monotonic()
    told = started
    while True:
        held, shown = await holders(client, lanes), await online_at(client, lanes)
        up = sum(held[lane] in pids and shown[lane] == held[lane] for lane in lanes)
        if up == len(lanes):
            return held
        now = time.monotonic()
        if now - started > timeout:
            raise RuntimeError(f"{len(lanes) - up} of {len(lanes)} lanes not up after {timeout} s")
        if now - told > 10:
            print(f"lanes up: {up} of {len(lanes)}", file=sys.stderr)
            told = now
        await asyncio.sleep(every)


# ------------------------------------------------------------------ the loads


async def interleaved(
    agents: list[Agent], held: dict[str, int | None], samples: int, seed: int
) -> tuple[list[float], list[float]]:
    """``samples`` pairs, one at a time: an open sent to the server holding the lane and
    one sent to another server, in random order within each pair, so the machine's noise
    falls on both alike. Each command goes to a lane not opened in the last round."""
    rng = random.Random(seed)
    pools = {agent.pid: Pool(agent) for agent in agents}
    lanes = lane_cycle(list(held), seed)
    same, cross = Tally(), Tally()
    try:
        for _ in range(samples):
            pair = [(same, next(lanes), True), (cross, next(lanes), False)]
            rng.shuffle(pair)
            for tally, lane, local in pair:
                holder = held[lane]
                others = [pid for pid in pools if pid != holder]
                pid = holder if local else rng.choice(others)
                assert pid is not None
                await pools[pid].send(tally, lane)
    finally:
        for pool in pools.values():
            pool.close()
    if same.outcomes.keys() != {"done"} or cross.outcomes.keys() != {"done"}:
        raise RuntimeError(f"not every command done: {same.outcomes} {cross.outcomes}")
    return same.latencies_ms, cross.latencies_ms


async def closed_loop(
    agents: list[Agent], lanes: list[str], commands: int, in_flight: int, seed: int
) -> tuple[Tally, float]:
    """``commands`` opens, ``in_flight`` at a time, the senders spread evenly over
    ``agents``' servers; the tally and the wall time."""
    targets = itertools.islice(lane_cycle(lanes, seed), commands)
    tally = Tally()

    async def sender(agent: Agent) -> None:
        pool = Pool(agent)
        try:
            for lane in targets:
                await pool.send(tally, lane)
        finally:
            pool.close()

    started = time.perf_counter()
    await asyncio.gather(*(sender(agents[n % len(agents)]) for n in range(in_flight)))
    return tally, time.perf_counter() - started


class SteadyFlow:
    """Opens at a steady rate to every lane in turn through ``agents``' servers, each
    sent when due whatever the earlier ones are doing (a command waiting on a dead
    server does not hold the next back), until stopped."""

    def __init__(self, agents: list[Agent], lanes: list[str], rate: float, seed: int) -> None:
        self.agents = agents
        self.lanes = lane_cycle(lanes, seed)
        self.rate = rate
        self.tally = Tally()
        self.sent = 0
        self._stop = asyncio.Event()
        self._pools = {agent.pid: Pool(agent) for agent in agents}

    async def run(self) -> None:
        pending: set[asyncio.Task[None]] = set()
        started = time.perf_counter()
        while not self._stop.is_set():
            agent = self.agents[self.sent % len(self.agents)]
            task = asyncio.create_task(self._one(agent, next(self.lanes)))
            pending.add(task)
            task.add_done_callback(pending.discard)
            self.sent += 1
            due = started + self.sent / self.rate
            # The sending schedule itself: the next command's due time.
            await asyncio.sleep(max(0.0, due - time.perf_counter()))
        await asyncio.gather(*pending)
        for pool in self._pools.values():
            pool.close()

    def stop(self) -> None:
        self._stop.set()

    async def _one(self, agent: Agent, lane: str) -> None:
        await self._pools[agent.pid].send(self.tally, lane)
