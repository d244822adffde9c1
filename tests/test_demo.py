"""``seat demo`` as a newcomer runs it: a centre with four simulated lanes, the console's
address and logins printed, and lanes that can be stopped and restarted by hand."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import re
import shlex
import signal
import sys
from pathlib import Path

import httpx
from websockets.asyncio.client import connect

from bench.gate_latency import free_port
from console.demo import LANES


async def test_demo_prints_a_working_console_and_restartable_lanes(tmp_path: Path) -> None:
    """The printed login works, every lane comes online, and each printed lane command
    logs only warnings, like the lanes the demo started."""
    port = free_port()
    env = {
        **os.environ,
        "SEAT_DATA_DIR": str(tmp_path),
        "SEAT_PORT": str(port),
        "SEAT_DEMO_PASSWORD": "demo-password-1",
        "SEAT_LOG_LEVEL": "WARNING",
    }
    demo = await asyncio.create_subprocess_exec(
        sys.executable, "-m", "console.cli", "demo",
        env=env, stdout=asyncio.subprocess.PIPE, stderr=asyncio.subprocess.DEVNULL,
        start_new_session=True,
    )  # fmt: skip
    assert demo.stdout is not None
    try:
        banner: list[str] = []
        async with asyncio.timeout(60):
            while not banner or banner[-1] != "  stop:     Ctrl-C":
                banner.append((await demo.stdout.readline()).decode().rstrip("\n"))
        text = "\n".join(banner)
        assert f"console:  http://127.0.0.1:{port}/" in text
        assert "agent / demo-password-1" in text and "supervisor / demo-password-1" in text
        commands = [line for line in banner if re.match(r"\s+P\d-(IN|OUT)\s+pid \d+:", line)]
        assert len(commands) == len(LANES)
        for line in commands:
            words = shlex.split(line.split(":", 1)[1])
            assert "SEAT_LOG_LEVEL=WARNING" in words and words[0].startswith("SEAT_LANE_TOKEN=")
        async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as client:
            login = await client.post(
                "/api/login", json={"username": "agent", "password": "demo-password-1"}
            )
            assert login.status_code == 200
            cookie = client.cookies["seat_session"]
        async with connect(
            f"ws://127.0.0.1:{port}/api/stream",
            additional_headers={"cookie": f"seat_session={cookie}"},
        ) as stream:
            first = json.loads(await stream.recv())
            online = {lane["id"] for lane in first["lanes"] if lane["online"]}
            async with asyncio.timeout(60):
                while online != {lane.id for lane in LANES}:
                    change = json.loads(await stream.recv())
                    if change["type"] == "lane" and change["lane"]["online"]:
                        online.add(change["lane"]["id"])
    finally:
        with contextlib.suppress(ProcessLookupError):
            os.killpg(demo.pid, signal.SIGINT)
        async with asyncio.timeout(30):
            await demo.wait()
