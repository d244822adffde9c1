"""Two ``seat serve`` processes on one data directory, and a lane given both: it leaves
a centre that was killed, or that stopped answering, for the other, an open that was
under way is carried out once, and the ledger both wrote still verifies."""

from __future__ import annotations

import asyncio
import signal
import socket
import sqlite3
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from gates.backoff import Backoff
from gates.lane.agent import LaneAgent
from gates.lane.session import LaneSession
from media.lane.camera import SyntheticCamera
from media.lane.publisher import Publisher
from tests.centres import deployment, logged_in, restart_closes_the_stranded_open
from tests.journals import journal_shows
from tests.lanes import ScriptedDriver
from tests.viewers import ViewerPeer, watch

OPEN = {"reason": "free_release"}


async def test_a_lane_leaves_a_killed_centre_for_the_other_and_runs_its_open_once(
    tmp_path: Path,
) -> None:
    """kill -9 of the centre a lane is on, while the lane lifts the barrier for it: the
    lane is online at the other centre, the lift it was carrying out happens once (its
    journal), an agent at the surviving centre opens the gate, and the open that was
    under way ends ``timeout`` in the ledger when the killed centre starts again, a
    ledger the two processes wrote that verifies."""
    data = tmp_path / "data"
    journal = tmp_path / "P1-OUT.jsonl"
    async with deployment(data, ["P1-OUT"]) as centres:
        a, b = centres.servers
        lane = await centres.start_lane(
            "P1-OUT", [a.url, b.url], "--state", str(journal), "--lift-s", "2"
        )
        await lane.logged("lane.link.online", 1)
        async with logged_in(b.url) as at_b:
            # Each centre knows the lanes linked to it: through the other, at once.
            elsewhere = await at_b.post("/api/lanes/P1-OUT/open", json=OPEN)
            assert elsewhere.json()["outcome"] == "lane_offline"
        async with logged_in(a.url) as at_a:
            opening = asyncio.create_task(at_a.post("/api/lanes/P1-OUT/open", json=OPEN))
            started = await journal_shows(journal, lambda records: bool(records))
            in_flight = started[0]["id"]
            killed_at = time.monotonic()
            await a.kill()
            with pytest.raises(httpx.TransportError):
                await opening
        await b.running().logged("lane.link.online", 1)
        print(f"\nfailover after kill -9: {time.monotonic() - killed_at:.3f} s")
        await lane.logged("lane.link.failover", 1)
        assert await journal_shows(journal, lambda records: len(records) > 1) == [
            {"id": in_flight, "running": True, "refused": None},
            {"id": in_flight, "running": False, "refused": None},
        ]
        async with logged_in(b.url) as at_b:
            opened = await at_b.post("/api/lanes/P1-OUT/open", json=OPEN)
            assert opened.json()["outcome"] == "done"
        await restart_closes_the_stranded_open(
            centres, a, in_flight, opened.json()["command_id"], journal
        )
        assert lane.seen("lane.command.ended") == 2
        verified = await centres.audit_verify()
        assert verified.startswith("ok "), verified


async def test_two_centres_writing_the_ledger_at_once_keep_one_chain(tmp_path: Path) -> None:
    """Each batch is written under BEGIN IMMEDIATE with the ledger's head read inside
    it, so two processes appending at once interleave whole entries on one chain: all
    of them are kept, and `seat audit verify` passes."""
    data = tmp_path / "data"
    each = 40
    async with deployment(data, ["P1-OUT"]) as centres:
        a, b = centres.servers
        async with logged_in(a.url) as at_a, logged_in(b.url) as at_b:
            answers = await asyncio.gather(
                *(
                    client.post("/api/lanes/P1-OUT/open", json=OPEN)
                    for _ in range(each)
                    for client in (at_a, at_b)
                )
            )
        assert {answer.json()["outcome"] for answer in answers} == {"lane_offline"}
        with sqlite3.connect(data / "seat.db") as db:
            (opens,) = db.execute(
                "SELECT count(*) FROM audit WHERE action LIKE 'gate_open_%'"
            ).fetchone()
        assert opens == 2 * 2 * each
        verified = await centres.audit_verify()
        assert verified.startswith("ok "), verified


async def test_a_lane_leaves_a_centre_that_stopped_answering(tmp_path: Path) -> None:
    """A centre that hangs with its sockets open (SIGSTOP: a machine that lost power
    says nothing either) is left by the lane's transport pings, within 2.5 of its
    heartbeats, for the other centre."""
    async with deployment(tmp_path / "data", ["P1-OUT"]) as centres:
        a, b = centres.servers
        lane = await centres.start_lane("P1-OUT", [f"{a.url},{b.url}"])
        await lane.logged("lane.link.online", 1)  # welcomed: A has answered it
        stopped_at = time.monotonic()
        a.signal(signal.SIGSTOP)
        await b.running().logged("lane.link.online", 1)
        print(f"\nfailover from a hung centre: {time.monotonic() - stopped_at:.3f} s")
        await lane.logged("lane.link.failover", 1)
        async with logged_in(b.url) as at_b:
            opened = await at_b.post("/api/lanes/P1-OUT/open", json=OPEN)
            assert opened.json()["outcome"] == "done"


async def test_a_name_with_two_addresses_is_dialled_address_by_address(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """One name for two centres, on 127.0.0.1 and 127.0.0.2 at the same port (the name
    resolved by the loop's resolver, answered here as DNS would). The lane's link and
    its camera's media connection both go to the first; killed, both move to the
    second, where an agent watches the camera and opens the gate."""
    loop = asyncio.get_running_loop()
    real = loop.getaddrinfo

    async def getaddrinfo(host: str, port: int, **kwargs: Any) -> Any:
        if host != "centres.test":
            return await real(host, port, **kwargs)
        stream = (socket.SOCK_STREAM, socket.IPPROTO_TCP, "")
        return [(socket.AF_INET, *stream, (ip, port)) for ip in ("127.0.0.1", "127.0.0.2")]

    monkeypatch.setattr(loop, "getaddrinfo", getaddrinfo)
    hosts = ("127.0.0.1", "127.0.0.2")
    async with deployment(tmp_path / "data", ["P1-OUT"], hosts, same_port=True) as centres:
        a, b = centres.servers
        token = centres.tokens["P1-OUT"]
        camera = SyntheticCamera("P1-OUT", size=(320, 240), fps=15, gop=15)
        publisher = Publisher("P1-OUT", token, camera=lambda: camera, microphone=None, speaker=None)
        agent = LaneAgent(
            [f"ws://centres.test:{a.port}/link"],
            LaneSession("P1-OUT", token, heartbeat_ms=1000),
            ScriptedDriver(),
            Backoff(first=0.05, cap=0.2),
            publisher=publisher,
        )
        running = asyncio.create_task(agent.run())
        peers: list[ViewerPeer] = []
        try:
            await a.running().logged("lane.link.online", 1)
            assert agent.target is not None and agent.target.address == "127.0.0.1"
            async with logged_in(a.url) as at_a:
                peers.append(await watch(at_a, "P1-OUT"))
                await peers[-1].wait_frames(3)
            await a.running().logged("media.upstream.opened", 1)
            await a.kill()
            await b.running().logged("lane.link.online", 1)
            assert agent.target.address == "127.0.0.2"
            async with logged_in(b.url) as at_b:
                peers.append(await watch(at_b, "P1-OUT"))
                await peers[-1].wait_frames(3)
                await b.running().logged("media.upstream.opened", 1)
                opened = await at_b.post("/api/lanes/P1-OUT/open", json=OPEN)
                assert opened.json()["outcome"] == "done"
        finally:
            for peer in peers:
                await peer.close()
            running.cancel()
            await asyncio.gather(running, return_exceptions=True)
