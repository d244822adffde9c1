"""``seat demo``: a whole seat on one machine, for a first look.

The centre runs in this process; each simulated lane runs in a process of its own, as
at a real car park, so stopping one shows the lane going offline in the console and
starting it again brings it back without touching the centre.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import secrets
import shlex
import signal
import sys
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from .accounts import add_user, put_lane, set_password
from .app import create_app
from .models import Direction, Role
from .server import listening_socket, uvicorn_config
from .settings import Settings
from .sqlite_store import SQLiteStore
from .store import Store


@dataclass(frozen=True)
class DemoLane:
    id: str
    name: str
    car_park: str
    direction: Direction


LANES = (
    DemoLane("P1-IN", "人民路 入口", "人民路停车场", Direction.ENTRY),
    DemoLane("P1-OUT", "人民路 出口", "人民路停车场", Direction.EXIT),
    DemoLane("P2-IN", "滨江 入口", "滨江停车场", Direction.ENTRY),
    DemoLane("P2-OUT", "滨江 出口", "滨江停车场", Direction.EXIT),
)
USERS = (("agent", Role.AGENT), ("supervisor", Role.SUPERVISOR))
# The lanes share the demo's terminal: warnings only, started by the demo or by hand.
LANE_LOGS = {"SEAT_LOG_LEVEL": "WARNING"}


async def _prepare(store: Store, password: str) -> dict[str, str]:
    """Demo accounts with ``password``, and a fresh token for every demo lane (only the
    tokens' hashes are stored, so earlier ones cannot be recovered)."""
    for username, role in USERS:
        if await store.get_user(username) is None:
            await add_user(store, username, role, password)
        else:
            await set_password(store, username, password)
    return {
        lane.id: await put_lane(store, lane.id, lane.name, lane.car_park, lane.direction)
        for lane in LANES
    }


def lane_command(url: str, lane: str, state_dir: Path) -> list[str]:
    return [
        *(sys.executable, "-m", "console.cli", "lane", "--server", url, "--lane", lane),
        *("--state", str(state_dir / f"{lane}.jsonl")),
    ]


async def _run(settings: Settings, password: str) -> None:
    store = await SQLiteStore.open(settings.database)
    processes: list[asyncio.subprocess.Process] = []
    try:
        tokens = await _prepare(store, password)
        config = uvicorn_config(settings, create_app(settings, store))
        listening = listening_socket(config)
        serving = asyncio.create_task(uvicorn.Server(config).serve(sockets=[listening]))
        url = f"http://{settings.host}:{settings.port}"
        for lane in LANES:
            env = {**os.environ, "SEAT_LANE_TOKEN": tokens[lane.id], **LANE_LOGS}
            processes.append(
                await asyncio.create_subprocess_exec(
                    *lane_command(url, lane.id, settings.data_dir / "lanes"), env=env
                )
            )
        print(_banner(url, password, tokens, processes, settings.data_dir / "lanes"), flush=True)
        await serving
    finally:
        for process in processes:
            if process.returncode is None:
                process.send_signal(signal.SIGINT)
        for process in processes:
            await process.wait()
        await store.close()


def _banner(
    url: str,
    password: str,
    tokens: dict[str, str],
    processes: list[asyncio.subprocess.Process],
    state_dir: Path,
) -> str:
    lines = [
        "",
        "remote-seat demo is running.",
        f"  console:  {url}/",
        f"  logins:   agent / {password}    supervisor / {password}",
        "  lanes (stop one with `kill PID` to see it go offline; start it again with its command):",
    ]
    for lane, process in zip(LANES, processes, strict=True):
        env = {"SEAT_LANE_TOKEN": tokens[lane.id], **LANE_LOGS}
        words = [f"{name}={value}" for name, value in env.items()]
        words += lane_command(url, lane.id, state_dir)
        command = " ".join(shlex.quote(word) for word in words)
        lines.append(f"    {lane.id:7} pid {process.pid}:  {command}")
    lines += ["  audit:    .venv/bin/seat audit verify", "  stop:     Ctrl-C", ""]
    return "\n".join(lines)


def run_demo(settings: Settings) -> int:
    password = os.environ.get("SEAT_DEMO_PASSWORD") or secrets.token_urlsafe(9)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings, password))
    return 0
