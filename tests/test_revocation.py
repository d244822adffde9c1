"""Changes made with the ``seat`` CLI reach a running ``seat serve`` within seconds:
its open console streams, its live views and intercoms, and its lane connections."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.processes import PASSWORD, USERNAME, Centre, centre, seat
from console.ledger import AuditAction
from console.sqlite_store import SQLiteStore
from tests.viewers import watch

# The centre's change feed is read every second; this leaves room on a loaded machine.
WITHIN_S = 10.0


@pytest.fixture
async def serving(tmp_path: Path) -> AsyncIterator[Centre]:
    async with centre(tmp_path, ["L1"], log_level="INFO") as running:
        yield running


@pytest.fixture
async def client(serving: Centre) -> AsyncIterator[httpx.AsyncClient]:
    async with httpx.AsyncClient(base_url=serving.url, timeout=30) as logged_in:
        response = await logged_in.post(
            "/api/login", json={"username": USERNAME, "password": PASSWORD}
        )
        response.raise_for_status()
        logged_in.headers["X-CSRF-Token"] = response.json()["csrf_token"]
        yield logged_in


async def stream(serving: Centre, client: httpx.AsyncClient) -> ClientConnection:
    url = serving.url.replace("http://", "ws://") + "/api/stream"
    cookie = client.cookies["seat_session"]
    ws = await connect(url, additional_headers={"cookie": f"seat_session={cookie}"})
    assert json.loads(await ws.recv())["type"] == "lanes"
    return ws


async def closed_with(ws: ClientConnection) -> tuple[int | None, str]:
    with pytest.raises(ConnectionClosed) as caught:
        async with asyncio.timeout(WITHIN_S):
            while True:
                await ws.recv()
    received = caught.value.rcvd
    return (received.code, received.reason) if received else (None, "")


async def ledger(serving: Centre) -> list[AuditAction]:
    store = await SQLiteStore.open(Path(serving.env["SEAT_DATA_DIR"]) / "seat.db")
    try:
        return [entry.action async for entry in store.iter_audit()]
    finally:
        await store.close()


@pytest.mark.parametrize(
    ("command", "stdin", "reason"),
    [
        (["user", "disable", USERNAME], "", "the session has ended"),
        (["user", "passwd", USERNAME], "another long password\n", "the session has ended"),
        (["user", "role", USERNAME, "--role", "supervisor"], "", "the session has ended"),
    ],
)
async def test_cli_change_to_an_account_closes_its_open_console_streams(
    serving: Centre, client: httpx.AsyncClient, command: list[str], stdin: str, reason: str
) -> None:
    """The stream of a disabled, re-keyed or re-roled account closes with 4401."""
    ws = await stream(serving, client)
    await seat(serving.env, *command, stdin=stdin)
    assert await closed_with(ws) == (4401, reason)
    assert (await client.get("/api/me")).status_code == 401


async def test_disabled_account_loses_its_live_view_and_intercom(
    serving: Centre, client: httpx.AsyncClient
) -> None:
    """The centre closes a disabled agent's viewer, and the ledger says the talk ended."""
    await serving.add_lane_agent("L1", size="320x240")
    viewer = await watch(client, "L1", talk=True)
    try:
        await viewer.wait_frames(1)
        await seat(serving.env, "user", "disable", USERNAME)
        await serving.process.logged("media.viewer.login_ended", 1, timeout=WITHIN_S)
        await serving.process.logged("media.viewer.closed", 1, timeout=WITHIN_S)
    finally:
        await viewer.close()
    actions = await ledger(serving)
    assert actions.count(AuditAction.INTERCOM_STARTED) == 1
    assert actions.count(AuditAction.INTERCOM_ENDED) == 1


async def test_rotated_lane_token_disconnects_the_old_lane_controller(serving: Centre) -> None:
    """`seat lanes add` on a connected lane closes its link with 4401 and the lane is
    shown offline; the old controller cannot come back with the old token."""
    await serving.add_lane_agent("L1", size="320x240")
    lane = serving.lanes[0]
    await seat(
        serving.env,
        "lanes",
        "add",
        "L1",
        "--name",
        "L1",
        "--car-park",
        "bench",
        "--direction",
        "exit",
    )
    await serving.process.logged("lane.link.revoked", 1, timeout=WITHIN_S)
    await lane.logged("lane.link.closed", 1, timeout=WITHIN_S)
    assert any("code=4401" in line for line in lane.tail)
    async with httpx.AsyncClient(base_url=serving.url) as anyone:
        assert (await anyone.get("/healthz")).json()["lanes_online"] == 0
