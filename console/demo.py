"""``seat demo``: a whole seat on one machine, for a first look.

The centre runs in this process; each simulated lane runs in a process of its own, as
at a real car park, so stopping one shows the lane going offline in the console and
starting it again brings it back without touching the centre. Now and then the demo
presses one lane's call button (``kill -USR1``, as anyone testing a lane can), so a first
look hears a call ring within its first minute instead of waiting for a simulated driver.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import os
import random
import secrets
import shlex
import signal
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import uvicorn

from gates.centre.hub import LaneHub
from media.lane.runner import PRESS_CALL

from .accounts import add_user, put_lane, set_password
from .app import create_app
from .billing.rules import Rules
from .ledger_check import ensure_ledger_sound
from .models import Direction, Role
from .parks import set_rules
from .server import listening_socket, uvicorn_config
from .settings import Settings
from .sqlite_store import SQLiteStore
from .stickers import issue_sticker, sticker_key
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
# What the demo's car parks charge, unless an operator set their own: 15 minutes free,
# then 5 yuan the first hour and 2 yuan each hour after, at most 40 yuan a day.
DEMO_RULES = Rules.parse(
    {
        "free_minutes": 15,
        "bands": [
            {
                "name": "全天",
                "start": "00:00",
                "end": "00:00",
                "period_minutes": 60,
                "fen_per_period": 200,
                "first_period": {"minutes": 60, "fen": 500},
            }
        ],
        "daily_cap_fen": 4000,
    }
)
# The lanes share the demo's terminal: warnings only, started by the demo or by hand.
LANE_LOGS = {"SEAT_LOG_LEVEL": "WARNING"}

log = logging.getLogger("seat.demo")


async def _prepare(store: Store, password: str) -> dict[str, str]:
    """Demo accounts with ``password``, a fresh token for every demo lane (only the
    tokens' hashes are stored, so earlier ones cannot be recovered), and billing rules
    for car parks that have none, so an agent can issue a payment order from a stay."""
    for username, role in USERS:
        if await store.get_user(username) is None:
            await add_user(store, username, role, password)
        else:
            await set_password(store, username, password)
    tokens = {
        lane.id: await put_lane(store, lane.id, lane.name, lane.car_park, lane.direction)
        for lane in LANES
    }
    for park in sorted({lane.car_park for lane in LANES}):
        if await store.billing_rules(park) is None:
            await set_rules(store, park, DEMO_RULES)
    return tokens


def lane_command(url: str, lane: str, state_dir: Path) -> list[str]:
    # ``--camera sim`` outright: a SEAT_LANE_CAMERA in the shell must not replace the
    # simulated lane's camera with a real one.
    return [
        *(sys.executable, "-m", "console.cli", "lane", "--server", url, "--lane", lane),
        *("--state", str(state_dir / f"{lane}.jsonl"), "--camera", "sim"),
    ]


def call_delays(every_s: float, rng: random.Random) -> Iterator[float]:
    """Seconds before each of the demo's presses of a call button: the first within
    half of ``every_s`` (20 s at the default 40), so a first look hears a ring in its
    first minute; then ``every_s`` on average, half of it either way, so the calls do
    not come like a clock's."""
    yield every_s * rng.uniform(0.25, 0.5)
    while True:
        yield every_s * rng.uniform(0.5, 1.5)


async def press_calls(
    hub: LaneHub,
    lanes: dict[str, asyncio.subprocess.Process],
    every_s: float,
    rng: random.Random,
) -> None:
    """Now and then, one lane's call button pressed: ``PRESS_CALL`` sent to its process."""
    for delay in call_delays(every_s, rng):
        await asyncio.sleep(delay)  # the demo's pace: real time is the point
        lane = rng.choice(await _pressable(hub, lanes))
        log.info("demo.call.pressed lane=%s pid=%s", lane, lanes[lane].pid)
        with contextlib.suppress(ProcessLookupError):  # it ended this very moment
            lanes[lane].send_signal(PRESS_CALL)


async def _pressable(hub: LaneHub, lanes: dict[str, asyncio.subprocess.Process]) -> list[str]:
    """The lanes whose call button a signal presses, once there is one: online at the
    centre (a lane that has not said hello may not have its handler yet, and the signal
    would end it) and still the process the demo started (a lane started again by hand
    is another process)."""
    changed = asyncio.Event()
    unsubscribe = hub.subscribe(lambda _status: changed.set())
    try:
        while True:
            online = set(hub.online())
            pressable = [
                lane
                for lane, process in lanes.items()
                if lane in online and process.returncode is None
            ]
            if pressable:
                return pressable
            changed.clear()
            await changed.wait()
    finally:
        unsubscribe()


async def _run(settings: Settings, password: str) -> None:
    await asyncio.to_thread(ensure_ledger_sound, settings)
    store = await SQLiteStore.open(settings.database)
    processes: list[asyncio.subprocess.Process] = []
    try:
        tokens = await _prepare(store, password)
        url = f"http://{settings.host}:{settings.port}"
        # Stickers point at the demo's own address unless one was given, so the
        # supervisor's sticker download works on the machine it runs on.
        public = settings.public_url or url
        # The demo's drivers pay in the sandbox, with one tap.
        settings = dataclasses.replace(settings, public_url=public, payment_sandbox=True)
        app = create_app(settings, store)
        config = uvicorn_config(settings, app)
        listening = listening_socket(config)
        serving = asyncio.create_task(uvicorn.Server(config).serve(sockets=[listening]))
        state_dir = settings.data_dir / "lanes"
        for lane in LANES:
            env = {**os.environ, "SEAT_LANE_TOKEN": tokens[lane.id], **LANE_LOGS}
            processes.append(
                await asyncio.create_subprocess_exec(
                    *lane_command(url, lane.id, state_dir), env=env
                )
            )
        every_s = settings.demo_call_every_s
        # A driver's phone at the first lane: the page its help sticker points to, here.
        key = await sticker_key(store, settings)
        helping = await issue_sticker(store, key, LANES[0].id, public)
        print(
            _banner(url, password, tokens, processes, state_dir, every_s, helping.url),
            flush=True,
        )
        lanes = {lane.id: process for lane, process in zip(LANES, processes, strict=True)}
        calls = asyncio.create_task(press_calls(app.state.hub, lanes, every_s, random.Random()))
        try:
            await serving
        finally:
            calls.cancel()
            await asyncio.gather(calls, return_exceptions=True)
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
    every_s: float,
    help_url: str,
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
    lines += [
        f"  calls:    a lane rings about every {every_s:g} s; ring one with `kill -USR1 PID`",
        f"  phone:    {help_url}  (the help page of {LANES[0].id}'s sticker: call from it)",
        "  audit:    .venv/bin/seat audit verify",
        "  stop:     Ctrl-C",
        "",
    ]
    return "\n".join(lines)


def run_demo(settings: Settings) -> int:
    # One process on the SQLite file, whatever SEAT_DATABASE_URL says: a demo must not
    # write its made-up lanes and calls into a real centre's shared database.
    settings = dataclasses.replace(settings, database_url=None)
    password = os.environ.get("SEAT_DEMO_PASSWORD") or secrets.token_urlsafe(9)
    with contextlib.suppress(KeyboardInterrupt):
        asyncio.run(_run(settings, password))
    return 0
