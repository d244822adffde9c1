"""``seat demo`` as a newcomer runs it: a centre with four simulated lanes, the console's
address and logins printed, and lanes that can be stopped and restarted by hand."""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import json
import os
import random
import re
import shlex
import signal
import statistics
import sys
from collections.abc import AsyncIterator, Callable
from pathlib import Path
from typing import Any

import httpx
from websockets.asyncio.client import ClientConnection, connect

from bench.gate_latency import free_port
from console.demo import LANES, call_delays
from tests.qr import qr_url

PASSWORD = "demo-password-1"


@contextlib.asynccontextmanager
async def demo(tmp_path: Path, **settings: str) -> AsyncIterator[tuple[int, list[str]]]:
    """``seat demo`` running with ``settings`` on a free port: the port and the banner."""
    port = free_port()
    env = {
        **os.environ,
        "SEAT_DATA_DIR": str(tmp_path),
        "SEAT_PORT": str(port),
        "SEAT_DEMO_PASSWORD": PASSWORD,
        "SEAT_LOG_LEVEL": "WARNING",
        **settings,
    }
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "demo",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    assert process.stdout is not None
    try:
        banner: list[str] = []
        async with asyncio.timeout(60):
            while not banner or banner[-1] != "  stop:     Ctrl-C":
                banner.append((await process.stdout.readline()).decode().rstrip("\n"))
        yield port, banner
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(process.pid, signal.SIGINT)
        async with asyncio.timeout(30):
            await process.wait()


@contextlib.asynccontextmanager
async def console_stream(port: int) -> AsyncIterator[ClientConnection]:
    """The console's live feed, as the demo's agent logged in with the printed password."""
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
        login = await client.post("/api/login", json={"username": "agent", "password": PASSWORD})
        assert login.status_code == 200
        cookie = client.cookies["seat_session"]
    async with connect(
        f"ws://127.0.0.1:{port}/api/stream",
        additional_headers={"cookie": f"seat_session={cookie}"},
    ) as stream:
        yield stream


async def every_lane_once(
    stream: ClientConnection, done: Callable[[dict[str, Any]], bool], timeout: float = 60
) -> None:
    """Read the feed until ``done`` has held for every demo lane, each at some point."""
    first = json.loads(await stream.recv())
    seen = {lane["id"] for lane in first["lanes"] if done(lane)}
    async with asyncio.timeout(timeout):
        while seen != {lane.id for lane in LANES}:
            change = json.loads(await stream.recv())
            if change["type"] == "lane" and done(change["lane"]):
                seen.add(change["lane"]["id"])


async def test_demo_prints_a_working_console_and_restartable_lanes(tmp_path: Path) -> None:
    """The printed login works, every lane comes online, each printed lane command logs
    only warnings, like the lanes the demo started, the printed help page opens, and
    the supervisor's sticker download points at the demo itself."""
    async with demo(tmp_path) as (port, banner):
        text = "\n".join(banner)
        assert f"console:  http://127.0.0.1:{port}/" in text
        assert f"agent / {PASSWORD}" in text and f"supervisor / {PASSWORD}" in text
        commands = [line for line in banner if re.match(r"\s+P\d-(IN|OUT)\s+pid \d+:", line)]
        assert len(commands) == len(LANES)
        for line in commands:
            words = shlex.split(line.split(":", 1)[1])
            assert "SEAT_LOG_LEVEL=WARNING" in words and words[0].startswith("SEAT_LANE_TOKEN=")
        async with console_stream(port) as stream:
            await every_lane_once(stream, lambda lane: lane["online"])
        phone = re.search(r"phone:\s+(\S+)", text)
        assert phone is not None and phone.group(1).startswith(f"http://127.0.0.1:{port}/help/")
        async with httpx.AsyncClient() as client:
            page = await client.get(phone.group(1))
        assert page.status_code == 200 and LANES[0].name in page.text
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            login = {"username": "supervisor", "password": PASSWORD}
            assert (await client.post("/api/login", json=login)).status_code == 200
            sticker = await client.get(f"/api/lanes/{LANES[0].id}/sticker")
        assert sticker.status_code == 200, sticker.text
        assert qr_url(sticker.content).startswith(f"http://127.0.0.1:{port}/help/")


async def test_demo_lanes_take_turns_to_ring(tmp_path: Path) -> None:
    """With calls a fraction of a second apart, every demo lane is soon calling: the
    demo presses their buttons one at a time, long before a simulated driver would."""
    calling_soon = {"SEAT_DEMO_CALL_EVERY_S": "0.2"}
    async with demo(tmp_path, **calling_soon) as (port, _), console_stream(port) as stream:
        await every_lane_once(stream, lambda lane: lane["last_call_at"] is not None)


def test_first_demo_call_comes_within_half_the_interval() -> None:
    """At the default 40 s a newcomer hears the first ring within 20 s, and not at once."""
    firsts = [next(call_delays(40.0, random.Random(seed))) for seed in range(200)]
    assert all(10.0 <= first <= 20.0 for first in firsts)


def test_demo_calls_then_come_about_every_interval_but_not_like_a_clock() -> None:
    """Later gaps average the interval and spread half of it either way."""
    gaps = list(itertools.islice(call_delays(40.0, random.Random(1)), 1, 2001))
    assert all(20.0 <= gap <= 60.0 for gap in gaps)
    assert abs(statistics.mean(gaps) - 40.0) < 2.0
    assert max(gaps) - min(gaps) > 35.0
