"""Several ``seat serve`` processes on one store (the SQLite file in one data directory,
or one PostgreSQL database with ``SEAT_DATABASE_URL`` and one Redis with
``SEAT_REDIS_URL``), started as an installer would (accounts and lanes made with the
``seat`` CLI), each of which a test can kill, stop (SIGSTOP: a centre that hangs with
its sockets open) or start again on its port.

Every process's standard error is read as it comes (``bench.processes.Process``), so a
test waits for a log event rather than sleeping for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import sqlite3
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import psycopg
from redis.asyncio import Redis

from bench.processes import PASSWORD, USERNAME, Process, seat
from console.cluster.leases import key
from tests.journals import read
from tests.services import START_S, free_port

LANE_OPTIONS = ("--heartbeat-ms", "1000", "--camera", "none", "--microphone", "none")
# A lease of 2 s (renewed every 0.5 s, fenced at 1.5 s) with the lanes' heartbeat of 1 s:
# a dead server's lanes are back elsewhere within seconds. Each open is sent: none joins
# the one before.
CLUSTER = {"SEAT_LANE_LEASE_S": "2", "SEAT_OPEN_JOIN_S": "0", "SEAT_COMMAND_TIMEOUT_S": "5"}


def cluster_env(database_url: str, redis_url: str) -> dict[str, str]:
    """The settings of servers sharing one PostgreSQL database and one Redis."""
    return {**CLUSTER, "SEAT_DATABASE_URL": database_url, "SEAT_REDIS_URL": redis_url}


@dataclass
class Server:
    """One ``seat serve`` on ``host:port``."""

    name: str
    host: str
    port: int
    env: dict[str, str]
    process: Process | None = None

    @property
    def url(self) -> str:
        return f"http://{self.host}:{self.port}"

    @property
    def server_name(self) -> str:
        """Its ``SEAT_SERVER_NAME``, its own across restarts, as two servers on one
        machine need; the ledger names it (``server``)."""
        return self.name.replace(" ", "-")

    async def start(self) -> None:
        env = {
            **self.env,
            "SEAT_HOST": self.host,
            "SEAT_PORT": str(self.port),
            "SEAT_SERVER_NAME": self.server_name,
        }
        self.process = await Process.start(self.name, ["console.cli", "serve"], env)
        await self.ready()

    async def ready(self) -> None:
        """Until it answers ``/healthz``; raises with its log if it exited."""
        async with asyncio.timeout(START_S), httpx.AsyncClient(base_url=self.url) as client:
            while True:
                self.running()
                with contextlib.suppress(httpx.TransportError):
                    if (await client.get("/healthz")).status_code == 200:
                        return
                await asyncio.sleep(0.05)  # polling a port that is not open yet

    def running(self) -> Process:
        if self.process is None or self.process.process.returncode is not None:
            tail = "\n".join(self.process.tail) if self.process else "(never started)"
            raise RuntimeError(f"{self.name} is not running:\n{tail}")
        return self.process

    async def lanes_held(self) -> int:
        """How many lanes' links this server holds itself: ``seat_lanes_online`` of its
        ``/metrics`` (``/healthz`` counts the lanes other servers hold too)."""
        async with httpx.AsyncClient(base_url=self.url) as client:
            response = await client.get("/metrics")
            response.raise_for_status()
        (held,) = (
            line.split()[1]
            for line in response.text.splitlines()
            if line.startswith("seat_lanes_online ")
        )
        return int(float(held))

    def signal(self, sig: signal.Signals) -> None:
        os.kill(self.running().pid, sig)

    async def kill(self) -> None:
        """A crash: SIGKILL, nothing closed or flushed by the centre itself."""
        process = self.running()
        self.signal(signal.SIGKILL)
        await process.process.wait()

    async def stop(self) -> None:
        if self.process is not None:
            with contextlib.suppress(ProcessLookupError):
                os.kill(self.process.pid, signal.SIGCONT)  # a stopped one cannot end
            await self.process.stop()


@dataclass
class Deployment:
    """Centres sharing ``data_dir``, an agent account ``USERNAME`` and lanes."""

    data_dir: Path
    env: dict[str, str]
    servers: list[Server]
    tokens: dict[str, str] = field(default_factory=dict)
    lanes: list[Process] = field(default_factory=list)

    async def add_lane(self, lane: str) -> None:
        """``seat lanes add`` while the centres run (they hear of it through Redis, or
        their change feed)."""
        self.tokens[lane] = await add_lane(self.env, lane)

    async def start_lane(self, lane: str, servers: Sequence[str], *options: str) -> Process:
        """``seat lane`` dialling ``servers`` (given as one ``--server`` each)."""
        env = {**self.env, "SEAT_LANE_TOKEN": self.tokens[lane]}
        args = ["console.cli", "lane", "--lane", lane, *LANE_OPTIONS, *options]
        for server in servers:
            args += ["--server", server]
        process = await Process.start(f"lane {lane}", args, env)
        self.lanes.append(process)
        return process

    async def audit_verify(self) -> str:
        return await seat(self.env, "audit", "verify")

    def ledger_rows(self, command_id: str) -> list[tuple[str, str | None]]:
        """The ledger's (action, outcome) for one command, in order."""
        rows = self._audit("action, outcome", "command_id", command_id)
        return [(str(action), outcome) for action, outcome in rows]

    def ledger_details(self, action: str) -> list[tuple[str | None, dict[str, Any]]]:
        """The command and detail of each of the ledger's entries of ``action``, in
        order."""
        rows = self._audit("command_id, detail", "action", action)
        return [(command_id, json.loads(detail)) for command_id, detail in rows]

    def _audit(self, columns: str, column: str, value: str) -> list[tuple[Any, ...]]:
        """Ledger rows where ``column`` is ``value``, from the store the deployment runs
        on (its PostgreSQL database, or the SQLite file in its data directory)."""
        query = f"SELECT {columns} FROM audit WHERE {column} = {{}} ORDER BY seq"
        if url := self.env.get("SEAT_DATABASE_URL"):
            with psycopg.connect(url) as pg:
                return pg.execute(query.format("%s").encode(), (value,)).fetchall()
        with sqlite3.connect(self.data_dir / "seat.db") as db:
            return db.execute(query.format("?"), (value,)).fetchall()


async def add_lane(env: dict[str, str], lane: str) -> str:
    """An exit lane of car park P made with ``seat lanes add``; its link token."""
    out = await seat(
        env, "lanes", "add", lane, "--name", lane, "--car-park", "P", "--direction", "exit"
    )
    return out.rsplit(":", 1)[1].strip()


@contextlib.asynccontextmanager
async def deployment(
    data_dir: Path,
    lanes: Sequence[str],
    hosts: Sequence[str] = ("127.0.0.1", "127.0.0.1"),
    env: dict[str, str] | None = None,
    same_port: bool = False,
    server_env: Sequence[dict[str, str]] = (),
) -> AsyncIterator[Deployment]:
    """One centre per host in ``hosts`` (each on a free port, or all on one with
    ``same_port``, for hosts with different addresses), started together on
    ``data_dir`` (and the store and Redis ``env`` names); every process stopped on the
    way out. ``server_env`` gives settings of a server's own, in ``hosts``' order (a
    Redis URL through a proxy a test cuts)."""
    await asyncio.to_thread(data_dir.mkdir, parents=True, exist_ok=True)
    base = {
        **os.environ,
        "SEAT_DATA_DIR": str(data_dir),
        "SEAT_LOG_LEVEL": "INFO",
        "SEAT_COMMAND_TIMEOUT_S": "10",
        **(env or {}),
    }
    await seat(base, "user", "add", USERNAME, "--role", "agent", stdin=PASSWORD + "\n")
    # At once, as several installers' terminals would: each is one transaction.
    added = await asyncio.gather(*(add_lane(base, lane) for lane in lanes))
    tokens = dict(zip(lanes, added, strict=True))
    port = free_port()
    servers = [
        Server(
            f"centre {n + 1}",
            host,
            port if same_port else free_port(),
            {**base, **(server_env[n] if n < len(server_env) else {})},
        )
        for n, host in enumerate(hosts)
    ]
    running = Deployment(data_dir, base, servers, tokens)
    try:
        # At once, as an installer's machines would: a start waits for nothing of
        # another's.
        await asyncio.gather(*(server.start() for server in servers))
        yield running
    finally:
        for lane_process in running.lanes:
            await lane_process.stop()
        for server in servers:
            await server.stop()


async def until(check: Callable[[], Awaitable[bool]], timeout: float = 30) -> None:
    """Until ``check`` passes: a status read over and over, as a watcher would."""
    async with asyncio.timeout(timeout):
        while True:
            if await check():
                return
            await asyncio.sleep(0.05)  # polling another process's status


async def holder(redis_url: str, lane: str = "P1-OUT") -> str | None:
    """The id of the server holding ``lane``'s lease (``host-pid-random``), or None."""
    async with Redis.from_url(redis_url, decode_responses=True) as redis:
        value = await redis.get(key(lane))
    return None if value is None else str(value)


def holds(server: Server, lease: str | None) -> bool:
    """Whether ``lease`` (a server's id) names ``server``'s running process."""
    return lease is not None and f"-{server.running().pid}-" in lease


@contextlib.asynccontextmanager
async def logged_in(base_url: str, username: str = USERNAME) -> AsyncIterator[httpx.AsyncClient]:
    """An HTTP client logged in as the deployment's agent (or another account with its
    password), its CSRF header set."""
    async with httpx.AsyncClient(base_url=base_url, timeout=30) as client:
        response = await client.post(
            "/api/login", json={"username": username, "password": PASSWORD}
        )
        response.raise_for_status()
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


async def restart_closes_the_stranded_open(
    centres: Deployment, killed: Server, in_flight: str, later: str, journal: Path
) -> None:
    """After a server died while its lane lifted for ``in_flight`` and the lane then ran
    ``later`` at the survivor: ``later`` is done in the ledger, ``in_flight`` has no
    outcome until the killed server starts again and closes it as ``timeout``, and the
    lane ran each once (a repeat would be answered from its journal, not run)."""
    assert centres.ledger_rows(later) == [
        ("gate_open_requested", None),
        ("gate_open_outcome", "done"),
    ]
    assert centres.ledger_rows(in_flight) == [("gate_open_requested", None)]
    await killed.start()
    assert centres.ledger_rows(in_flight) == [
        ("gate_open_requested", None),
        ("gate_open_outcome", "timeout"),
    ]
    assert [(row["id"], row["running"]) for row in read(journal)] == [
        (in_flight, True),
        (in_flight, False),
        (later, True),
        (later, False),
    ]
