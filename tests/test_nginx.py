"""docs/deploy/nginx.conf, rendered and run by Debian's nginx with two `seat serve`
processes behind it: an agent logs in, follows the console's event stream and opens a
lane's gate through nginx; the centre serving them dies while the lane lifts for that
open (nginx answers 502 and sends the open nowhere else), and the next request, the
stream and the lane's reconnect go to the other, where the gate opens."""

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
from tests.journals import journal_shows, read
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
    # Each open is sent: none joins the one before (SEAT_OPEN_JOIN_S).
    env = {"SEAT_TRUSTED_PROXIES": "127.0.0.1", "SEAT_OPEN_JOIN_S": "0"}
    async with deployment(tmp_path / "data", ["P1-OUT"], env=env) as running:
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
    centres: Deployment, nginx: NginxServer, nginx_port: int, tmp_path: Path
) -> None:
    a, b = centres.servers
    journal = tmp_path / "P1-OUT.jsonl"
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
            lane = await centres.start_lane(
                "P1-OUT", [base], "--state", str(journal), "--lift-s", "2"
            )
            await a.running().logged("lane.link.online", 1)
            await next_message(stream, lane_online)

            # The centre dies while the lane lifts the barrier for an open: nginx
            # answers 502 and does not send the open on to the other centre.
            opening = asyncio.create_task(client.post("/api/lanes/P1-OUT/open", json=OPEN))
            started = await journal_shows(journal, lambda records: bool(records))
            await a.kill()
            assert (await opening).status_code == 502
            with pytest.raises(ConnectionClosed):
                await next_message(stream, lambda message: False)

        me = await client.get("/api/me")
        assert (me.status_code, me.json()["username"]) == (200, USERNAME)
        await b.running().logged("lane.link.online", 1)
        await lane.logged("lane.link.online", 2)
        async with connect(stream_url, additional_headers=headers) as stream:
            first = json.loads(await stream.recv())
            assert [(lane["id"], lane["online"]) for lane in first["lanes"]] == [("P1-OUT", True)]
            again = await client.post("/api/lanes/P1-OUT/open", json=OPEN)
            assert again.json()["outcome"] == "done"
    # Each open was carried out once: started, then ended, and no third command.
    records = read(journal)
    assert {r["id"] for r in records} == {started[0]["id"], again.json()["command_id"]}
    for command_id in (started[0]["id"], again.json()["command_id"]):
        assert [r["running"] for r in records if r["id"] == command_id] == [True, False]
    # The open's 502 was the dead centre's, which nginx then left for the other.
    log = nginx.error_log.read_text()
    assert "upstream prematurely closed connection" in log
    assert "upstream server temporarily disabled" in log
    verified = await centres.audit_verify()
    assert verified.startswith("ok "), verified
