"""docs/deploy/nginx.conf, rendered and run by Debian's nginx with two `seat serve`
processes behind it: an agent logs in, follows the console's event stream and opens a
lane's gate, all through nginx; the centre serving them is killed, and the next
request, the stream and the lane's reconnect go to the other."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.processes import PASSWORD, USERNAME
from tests.centres import Deployment, deployment
from tests.services import NginxServer, free_port

ROOT = Path(__file__).resolve().parent.parent
TEMPLATE = ROOT / "docs" / "deploy" / "nginx.conf"
OPEN = {"reason": "free_release"}
# The agent's browser, as nginx sees it: another address than nginx's own, which the
# centres trust as their proxy.
BROWSER = "127.0.0.2"


def render(listen: str, centre_a: str, centre_b: str) -> str:
    """As `envsubst '${SEAT_LISTEN} ${SEAT_CENTRE_A} ${SEAT_CENTRE_B}'` does: those
    three and no other, so nginx's own variables stay."""
    names = {"SEAT_LISTEN": listen, "SEAT_CENTRE_A": centre_a, "SEAT_CENTRE_B": centre_b}
    text = TEMPLATE.read_text()
    for name in names:
        assert f"${{{name}}}" in text, name
    return Template(text).safe_substitute(names)


@pytest.fixture
def nginx_port() -> int:
    return free_port()


@pytest.fixture
async def centres(tmp_path: Path) -> AsyncIterator[Deployment]:
    trusted = {"SEAT_TRUSTED_PROXIES": "127.0.0.1"}
    async with deployment(tmp_path / "data", ["P1-OUT"], env=trusted) as running:
        yield running


@pytest.fixture
def nginx(centres: Deployment, nginx_port: int) -> Iterator[NginxServer]:
    a, b = centres.servers
    site = render(f"127.0.0.1:{nginx_port}", f"{a.host}:{a.port}", f"{b.host}:{b.port}")
    server = NginxServer(site, port=nginx_port)
    try:
        server.start()
        yield server
    finally:
        server.close()


async def next_message(stream: ClientConnection, check: Any) -> dict[str, Any]:
    """The first message from now on that passes ``check``."""
    async with asyncio.timeout(20):
        while True:
            message = json.loads(await stream.recv())
            if check(message):
                return dict(message)


def lane_online(message: dict[str, Any]) -> bool:
    return bool(message["type"] == "lane" and message["lane"]["online"])


def remotes(data_dir: Path) -> list[str]:
    with sqlite3.connect(data_dir / "seat.db") as db:
        rows = db.execute("SELECT detail FROM audit WHERE action = 'login' ORDER BY seq")
        return [json.loads(detail)["remote"] for (detail,) in rows]


async def test_two_centres_behind_nginx(
    centres: Deployment, nginx: NginxServer, nginx_port: int
) -> None:
    a, b = centres.servers
    base = f"http://127.0.0.1:{nginx_port}"
    browser = httpx.AsyncHTTPTransport(local_address=BROWSER)
    async with httpx.AsyncClient(base_url=base, transport=browser, timeout=30) as client:
        # A client cannot name its own address: nginx appends the one it saw, and the
        # centre takes the right-most that is not its proxy.
        login = await client.post(
            "/api/login",
            json={"username": USERNAME, "password": PASSWORD},
            headers={"X-Forwarded-For": "10.9.9.9"},
        )
        assert login.status_code == 200, login.text
        client.headers["X-CSRF-Token"] = login.json()["csrf_token"]
        assert remotes(centres.data_dir) == [BROWSER]

        session = client.cookies["seat_session"]
        stream_url = f"ws://127.0.0.1:{nginx_port}/api/stream"
        headers = {"Cookie": f"seat_session={session}", "Origin": base}
        async with connect(stream_url, additional_headers=headers) as stream:
            first = json.loads(await stream.recv())
            assert first["type"] == "lanes"
            assert [(lane["id"], lane["online"]) for lane in first["lanes"]] == [("P1-OUT", False)]
            lane = await centres.start_lane("P1-OUT", [base])
            await a.running().logged("lane.link.online", 1)
            await next_message(stream, lane_online)
            opened = await client.post("/api/lanes/P1-OUT/open", json=OPEN)
            assert opened.json()["outcome"] == "done"

            await a.kill()
            with pytest.raises(ConnectionClosed):
                await next_message(stream, lambda message: False)

        me = await client.get("/api/me")
        assert (me.status_code, me.json()["username"]) == (200, USERNAME)
        await b.running().logged("lane.link.online", 1)
        await lane.logged("lane.link.online", 2)
        async with connect(stream_url, additional_headers=headers) as stream:
            first = json.loads(await stream.recv())
            assert [(lane["id"], lane["online"]) for lane in first["lanes"]] == [("P1-OUT", True)]
            opened = await client.post("/api/lanes/P1-OUT/open", json=OPEN)
            assert opened.json()["outcome"] == "done"
    # nginx tried the dead centre and moved on, rather than answer 502.
    assert "Connection refused) while connecting to upstream" in nginx.error_log.read_text()
    verified = await centres.audit_verify()
    assert verified.startswith("ok "), verified
