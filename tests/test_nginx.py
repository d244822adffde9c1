"""docs/deploy/nginx.conf, rendered and run by Debian's nginx with two `seat serve`
processes behind it on one PostgreSQL database and one Redis, both taking traffic: an
agent logs in, follows the console's event stream and opens a lane's gate through
nginx, whichever centre nginx picks; the centre holding the lane dies while the lane
lifts for an open, and the lane, the stream and the next opens come back through nginx
to the other, where the gate opens."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from string import Template
from typing import Any

import httpx
import pytest
from websockets.asyncio.client import ClientConnection, connect

from bench.processes import PASSWORD, USERNAME
from tests.centres import Deployment, cluster_env, deployment
from tests.journals import journal_shows, read
from tests.services import NginxServer, RedisServer, free_port

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
async def centres(
    tmp_path: Path, postgres_url: str, redis_server: RedisServer
) -> AsyncIterator[Deployment]:
    env = {
        **cluster_env(postgres_url, redis_server.url),
        "SEAT_TRUSTED_PROXIES": "127.0.0.1",
    }
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


def servers_asked(centres: Deployment, command_ids: set[str]) -> set[str]:
    """The names of the servers through which these opens were asked (their ledger)."""
    return {
        detail["server"]
        for command_id, detail in centres.ledger_details("gate_open_requested")
        if command_id in command_ids
    }


async def test_two_centres_behind_nginx(
    centres: Deployment, nginx: NginxServer, nginx_port: int, tmp_path: Path
) -> None:
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
        assert [d["remote"] for _, d in centres.ledger_details("login")] == [BROWSER]

        session = client.cookies["seat_session"]
        stream_url = f"ws://127.0.0.1:{nginx_port}/api/stream"
        headers = {"Cookie": f"seat_session={session}", "Origin": base}
        async with connect(stream_url, additional_headers=headers) as stream:
            first = json.loads(await stream.recv())
            assert first["type"] == "lanes"
            assert [(lane["id"], lane["online"]) for lane in first["lanes"]] == [("P1-OUT", False)]
            lane = await centres.start_lane(
                "P1-OUT", [base], "--state", str(journal), "--lift-s", "1"
            )
            await lane.logged("lane.link.online", 1)
            # Whichever centre holds the lane and whichever serves the stream.
            await next_message(stream, lane_online)

            # Opens through nginx go to both centres, and all are done.
            opens = [await client.post("/api/lanes/P1-OUT/open", json=OPEN) for _ in range(4)]
            assert [o.json()["outcome"] for o in opens] == ["done"] * 4
            ids = {o.json()["command_id"] for o in opens}
            assert servers_asked(centres, ids) == {"centre-1", "centre-2"}

            # The barrier falls after a while with no car under it; an open then lifts.
            for gate in ("up", "down"):
                await next_message(
                    stream, lambda m, g=gate: m["type"] == "lane" and m["lane"]["gate"] == g
                )
            holder, survivor = centres.servers
            if await holder.lanes_held() == 0:
                holder, survivor = survivor, holder
            # The lane's centre dies while the lane lifts for an open: asked there,
            # nginx answers 502 (it sends a request a centre received nowhere else);
            # asked at the other, the open ends timeout, the lane's answer lost.
            opening = asyncio.create_task(client.post("/api/lanes/P1-OUT/open", json=OPEN))
            lifting = asyncio.create_task(
                journal_shows(journal, lambda records: len(records) > 2 * len(ids))
            )
            await asyncio.wait([opening, lifting], return_when=asyncio.FIRST_COMPLETED)
            assert not opening.done(), opening.result().text  # answered before the lift
            started = await lifting
            await holder.kill()
            answer = await opening
            assert answer.status_code == 502 or answer.json()["outcome"] == "timeout"

        await survivor.running().logged("lane.link.online", 1)
        await lane.logged("lane.link.online", 2)
        me = await client.get("/api/me")
        assert (me.status_code, me.json()["username"]) == (200, USERNAME)
        async with connect(stream_url, additional_headers=headers) as stream:
            first = json.loads(await stream.recv())
            if not first["lanes"][0]["online"]:
                await next_message(stream, lane_online)
            again = [await client.post("/api/lanes/P1-OUT/open", json=OPEN) for _ in range(2)]
            assert [o.json()["outcome"] for o in again] == ["done"] * 2
    # Each open was carried out once: started, then ended.
    records = read(journal)
    in_flight = started[2 * len(ids)]["id"]
    done = [*ids, in_flight, *(o.json()["command_id"] for o in again)]
    assert sorted(r["id"] for r in records) == sorted(done * 2)
    for command_id in done:
        assert [r["running"] for r in records if r["id"] == command_id] == [True, False]
    verified = await centres.audit_verify()
    assert verified.startswith("ok "), verified
