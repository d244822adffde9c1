"""docs/deploy/nginx.conf as the README has it for two centres without Redis (one
SQLite file, one machine): rendered with ``backup`` on the second centre's line, run by
Debian's nginx with both behind it. Everything goes to the first while it answers:
the lane, the console's stream, every open. When it is killed, the lane, the stream,
the login and the opens come back through nginx on the second. When it is back, nginx
sends it everything again, and its console shows the lane (still on the second)
offline until the second is restarted; the lane then redials to it, and opens there."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path

import httpx
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.processes import PASSWORD, USERNAME
from tests.centres import Deployment, Server, deployment, until
from tests.journals import read
from tests.services import NginxServer, free_port
from tests.test_nginx import BROWSER, OPEN, lane_online, next_message, render, servers_asked

# Each open is sent to the lane (none joins the one before), so the lane's journal
# shows each carried out once.
ALONE = {"SEAT_TRUSTED_PROXIES": "127.0.0.1", "SEAT_OPEN_JOIN_S": "0"}


@asynccontextmanager
async def behind_nginx(centres: Deployment) -> AsyncIterator[str]:
    """nginx in front of ``centres``, the second as its backup; its base URL."""
    a, b = centres.servers
    port = free_port()
    site = render(f"127.0.0.1:{port}", f"{a.host}:{a.port}", f"{b.host}:{b.port} backup")
    assert f"server {b.host}:{b.port} backup " in site
    nginx = NginxServer(site, port=port)
    try:
        await asyncio.to_thread(nginx.start)
        yield f"http://127.0.0.1:{port}"
    finally:
        await asyncio.to_thread(nginx.close)


@asynccontextmanager
async def console_stream(base: str, client: httpx.AsyncClient) -> AsyncIterator[ClientConnection]:
    """The console's event stream through nginx, once it shows the lane online."""
    headers = {"Cookie": f"seat_session={client.cookies['seat_session']}", "Origin": base}
    url = base.replace("http://", "ws://") + "/api/stream"
    async with connect(url, additional_headers=headers) as stream:
        first = json.loads(await stream.recv())
        assert first["type"] == "lanes"
        if not first["lanes"][0]["online"]:
            await next_message(stream, lane_online)
        yield stream


async def opened_at(
    centres: Deployment, client: httpx.AsyncClient, server: Server, times: int
) -> list[str]:
    """``times`` opens through nginx: every one done, and asked at ``server``."""
    opens = [await client.post("/api/lanes/P1-OUT/open", json=OPEN) for _ in range(times)]
    assert [o.json()["outcome"] for o in opens] == ["done"] * times, [o.text for o in opens]
    ids = [o.json()["command_id"] for o in opens]
    assert servers_asked(centres, set(ids)) == {server.server_name}
    assert await server.lanes_held() == 1
    return ids


async def lane_shown(client: httpx.AsyncClient, *, online: bool) -> bool:
    """Whether the console, through nginx, shows the lane ``online`` or not."""
    (lane,) = (await client.get("/api/lanes")).json()["lanes"]
    return bool(lane["online"]) is online


async def test_two_centres_without_redis_behind_nginx_with_a_backup(tmp_path: Path) -> None:
    journal = tmp_path / "P1-OUT.jsonl"
    async with (
        deployment(tmp_path / "data", ["P1-OUT"], env=ALONE) as centres,
        behind_nginx(centres) as base,
    ):
        a, b = centres.servers
        browser = httpx.AsyncHTTPTransport(local_address=BROWSER)
        async with httpx.AsyncClient(base_url=base, transport=browser, timeout=30) as client:
            login = await client.post(
                "/api/login", json={"username": USERNAME, "password": PASSWORD}
            )
            assert login.status_code == 200, login.text
            client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
            lane = await centres.start_lane(
                "P1-OUT", [base], "--state", str(journal), "--lift-s", "1"
            )
            await lane.logged("lane.link.online", 1)
            async with console_stream(base, client) as stream:
                done = await opened_at(centres, client, a, 2)
                assert await b.lanes_held() == 0
                await a.kill()
                # nginx ends the stream with its centre; the console opens another.
                async with asyncio.timeout(20):
                    try:
                        while True:
                            await stream.recv()
                    except ConnectionClosed:
                        pass

            await lane.logged("lane.link.online", 2)
            me = await client.get("/api/me")
            assert (me.status_code, me.json()["username"]) == (200, USERNAME)
            async with console_stream(base, client):
                done += await opened_at(centres, client, b, 2)

            # The first back: once its fail_timeout has passed, nginx sends it every new
            # request again, but the lane's link stays on the second, which the first
            # knows nothing of: its console shows the lane offline.
            await a.start()
            await until(lambda: lane_shown(client, online=False))
            # The second restarted, its lane redials through nginx, to the first.
            await b.stop()
            await lane.logged("lane.link.online", 3)
            await b.start()
            async with console_stream(base, client):
                done += await opened_at(centres, client, a, 1)

    records = read(journal)
    assert sorted(r["id"] for r in records) == sorted(done * 2)
    for command_id in done:
        assert [r["running"] for r in records if r["id"] == command_id] == [True, False]
    verified = await centres.audit_verify()
    assert verified.startswith("ok "), verified
