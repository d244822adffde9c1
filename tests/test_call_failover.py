"""Two ``seat serve`` processes as one centre (one data directory, one Redis), and one
of them killed while a call rings an agent at its console: the call rings elsewhere."""

from __future__ import annotations

import contextlib
import json
import os
import signal
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from bench.gate_latency import free_port
from bench.processes import Centre, Process, seat
from console.ledger import AuditAction
from console.sqlite_store import SQLiteStore
from gates.lane.agent import link_url
from tests.desks import tab
from tests.services import RedisServer

PASSWORD = "a long enough password"


@contextlib.asynccontextmanager
async def serve(env: dict[str, str]) -> AsyncIterator[Centre]:
    """One ``seat serve`` on a free port, up; stopped on the way out if still running."""
    port = free_port()
    env = {**env, "SEAT_PORT": str(port)}
    process = await Process.start("seat serve", ["console.cli", "serve"], env)
    running = Centre(f"http://127.0.0.1:{port}", env, process, {})
    try:
        await running.wait_online(0)
        yield running
    finally:
        await process.stop()


@contextlib.asynccontextmanager
async def logged_in(url: str, name: str) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=url, timeout=30) as client:
        response = await client.post("/api/login", json={"username": name, "password": PASSWORD})
        response.raise_for_status()
        client.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield client


async def test_a_call_ringing_at_a_killed_server_rings_an_agent_at_the_other(
    tmp_path: Path, redis_server: RedisServer
) -> None:
    """alice's console is on the first server, bob's on the second; the first rings
    alice, then dies (SIGKILL). Once its tabs expire in Redis the second server takes
    alice for gone, and the ring moves to bob, long before it would have run out."""
    env = {
        **os.environ,
        "SEAT_DATA_DIR": str(tmp_path),
        "SEAT_REDIS_URL": redis_server.url,
        "SEAT_CALL_PRESENCE_S": "1",
        "SEAT_CALL_RING_S": "600",
        "SEAT_LOG_LEVEL": "INFO",
    }
    for name in ("alice", "bob"):
        await seat(env, "user", "add", name, "--role", "agent", stdin=PASSWORD + "\n")
    added = await seat(
        env, "lanes", "add", "L1", "--name", "L1", "--car-park", "人民路", "--direction", "exit"
    )
    token = added.rsplit(":", 1)[1].strip()
    async with serve(env) as first, serve(env) as second:
        lane = await connect(link_url(first.url))
        await lane.send(json.dumps({"type": "hello", "v": 1, "lane": "L1", "token": token}))
        assert json.loads(await lane.recv())["type"] == "welcome"
        async with (
            logged_in(first.url, "alice") as at_first,
            logged_in(second.url, "bob") as at_second,
            tab(first.url, at_first, "alice") as alice,
            tab(second.url, at_second, "bob") as bob,
        ):
            await lane.send('{"type":"call","event_id":"e1"}')
            ring = await alice.next("ring")
            await alice.next("call", lambda m: m["call"]["state"] == "ringing")  # saved
            first.process.process.send_signal(signal.SIGKILL)
            moved = await bob.next("ring", timeout=30)
            assert moved["call_id"] == ring["call_id"]
            await bob.next("call", lambda m: m["call"]["offered_to"] == "bob")  # saved
    store = await SQLiteStore.open(tmp_path / "seat.db")
    try:
        steps = [
            (entry.action, entry.detail.get("agent"))
            async for entry in store.iter_audit()
            if entry.action.startswith("call_")
        ]
    finally:
        await store.close()
    assert steps[:4] == [  # then bob's tab closed as the test ended
        (AuditAction.CALL_PLACED, None),
        (AuditAction.CALL_OFFERED, "alice"),
        (AuditAction.CALL_RETURNED, "alice"),
        (AuditAction.CALL_OFFERED, "bob"),
    ]
