"""The processes a media benchmark runs, each started the way an installer would and
always stopped: a centre (``seat serve``, or another module serving the same app) with
a user and lanes registered through the ``seat`` CLI, and lane agents (``seat lane``).

Every process's standard error is kept (the last lines, shown when something fails)
and can be waited on for a log event, so a phase waits for what it needs (the lane
stopped streaming) instead of sleeping for it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import re
import sys
import time
from collections import deque
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import httpx

from bench.gate_latency import free_port

ROOT = Path(__file__).resolve().parent.parent
USERNAME = "bench"
PASSWORD = "bench-password-0"
STOP_TIMEOUT_S = 10.0


class Process:
    """A child process whose standard error is read line by line as it comes."""

    def __init__(self, name: str, process: asyncio.subprocess.Process) -> None:
        self.name = name
        self.process = process
        self.tail: deque[str] = deque(maxlen=40)
        self._counts: dict[str, int] = {}
        self._changed = asyncio.Event()
        assert process.stderr is not None
        self._reading = asyncio.create_task(self._read(process.stderr))

    @classmethod
    async def start(
        cls, name: str, args: Sequence[str], env: dict[str, str], *, pipes: bool = False
    ) -> Process:
        """``python -m args...`` from the repository root; ``pipes`` gives it a standard
        input and output to talk to."""
        process = await asyncio.create_subprocess_exec(
            sys.executable,
            "-m",
            *args,
            cwd=ROOT,
            env=env,
            stdin=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
            stdout=asyncio.subprocess.PIPE if pipes else asyncio.subprocess.DEVNULL,
            stderr=asyncio.subprocess.PIPE,
        )
        return cls(name, process)

    @property
    def pid(self) -> int:
        return self.process.pid

    def seen(self, event: str) -> int:
        """How many log lines so far named ``event``."""
        return self._counts.get(event, 0)

    async def logged(self, event: str, count: int, timeout: float = 20.0) -> None:
        """Wait until ``event`` has been logged ``count`` times in all."""
        async with asyncio.timeout(timeout):
            while self.seen(event) < count:
                if self.process.returncode is not None:
                    raise RuntimeError(f"{self.name} exited:\n" + "\n".join(self.tail))
                self._changed.clear()
                await self._changed.wait()

    async def stop(self) -> None:
        if self.process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                self.process.terminate()
            try:
                await asyncio.wait_for(self.process.wait(), STOP_TIMEOUT_S)
            except TimeoutError:
                with contextlib.suppress(ProcessLookupError):
                    self.process.kill()
                await self.process.wait()
        self._reading.cancel()
        await asyncio.gather(self._reading, return_exceptions=True)

    async def _read(self, stream: asyncio.StreamReader) -> None:
        while line := await stream.readline():
            text = line.decode(errors="replace").rstrip()
            self.tail.append(text)
            for event in _EVENT.findall(text):
                self._counts[event] = self._counts.get(event, 0) + 1
            self._changed.set()
        self._changed.set()


# Log events are dotted names at the start of a message: "media.upstream.closed lane=L1".
_EVENT = re.compile(r"(?:^|\s)([a-z_]+(?:\.[a-z_]+)+)(?=\s|$)")


async def seat(env: dict[str, str], *args: str, stdin: str = "") -> str:
    """One ``seat`` command to completion; its standard output."""
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "console.cli",
        *args,
        cwd=ROOT,
        env=env,
        stdin=asyncio.subprocess.PIPE,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
    )
    out, err = await process.communicate(stdin.encode())
    if process.returncode != 0:
        raise RuntimeError(f"seat {' '.join(args)} failed: {err.decode()}")
    return out.decode()


@dataclass
class Centre:
    url: str
    env: dict[str, str]
    process: Process
    tokens: dict[str, str]
    lanes: list[Process] = field(default_factory=list)

    async def add_lane_agent(
        self, lane: str, *, size: str = "1280x720", fps: int = 15, camera: str = "sim"
    ) -> None:
        """A ``seat lane`` agent with ``camera`` (the synthetic one unless given);
        returns once it is online."""
        env = {**self.env, "SEAT_LANE_TOKEN": self.tokens[lane], "SEAT_LOG_LEVEL": "WARNING"}
        args = ["console.cli", "lane", "--server", self.url, "--lane", lane]
        args += ["--camera", camera, "--size", size, "--fps", str(fps), "--seed", "1"]
        self.lanes.append(await Process.start(f"lane {lane}", args, env))
        await self.wait_online(len(self.lanes))

    async def wait_online(self, lanes: int) -> None:
        """Poll /healthz until ``lanes`` lanes are connected (other processes' state)."""
        deadline = time.monotonic() + 60
        async with httpx.AsyncClient(base_url=self.url) as client:
            while time.monotonic() < deadline:
                for process in (self.process, *self.lanes):
                    if process.process.returncode is not None:
                        raise RuntimeError(f"{process.name} exited:\n" + "\n".join(process.tail))
                with contextlib.suppress(httpx.TransportError):
                    response = await client.get("/healthz")
                    if response.status_code == 200 and response.json()["lanes_online"] >= lanes:
                        return
                await asyncio.sleep(0.1)
        raise RuntimeError(f"{lanes} lanes did not come online")


@contextlib.asynccontextmanager
async def centre(
    data_dir: Path,
    lanes: Sequence[str],
    *,
    module: Sequence[str] = ("console.cli", "serve"),
    grace_s: float = 10.0,
    log_level: str = "WARNING",
    env: dict[str, str] | None = None,
) -> AsyncIterator[Centre]:
    """A centre on a free port with its data in ``data_dir``: the bench user (an agent)
    and ``lanes`` registered with the CLI, every process stopped on the way out. ``env``
    adds settings of its own (``SEAT_COMMAND_TIMEOUT_S``...)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    port = free_port()
    env = {
        **os.environ,
        "SEAT_DATA_DIR": str(data_dir),
        "SEAT_PORT": str(port),
        "SEAT_LOG_LEVEL": log_level,
        "SEAT_MEDIA_GRACE_S": str(grace_s),
        **(env or {}),
    }
    # A supervisor: the benchmarks listen in on lanes as well as watch and talk.
    await seat(env, "user", "add", USERNAME, "--role", "supervisor", stdin=PASSWORD + "\n")
    tokens = {}
    for lane in lanes:
        out = await seat(
            env, "lanes", "add", lane, "--name", lane, "--car-park", "bench", "--direction", "exit"
        )
        tokens[lane] = out.rsplit(":", 1)[1].strip()
    process = await Process.start(" ".join(module), module, env)
    running = Centre(f"http://127.0.0.1:{port}", env, process, tokens)
    try:
        await running.wait_online(0)
        yield running
    finally:
        for child in [*running.lanes, process]:
            await child.stop()
