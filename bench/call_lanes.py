"""Simulated lanes for the call and wall benchmarks, many to a process, speaking the
real lane link.

    python -m bench.call_lanes CENTRE_URL LANES_JSON

Each lane of ``LANES_JSON`` (lane id → token) dials the lane link, says ``hello``, sends
a ``heartbeat`` whenever it has sent nothing for the interval the centre welcomed it with,
and reads what the centre sends. Once every lane is welcomed the process prints
``{"ready": N}``. A line ``call LANE EVENT_ID`` on stdin sends that lane's call button
press and prints ``{"lane", "event_id", "sent_ns"}``, ``sent_ns`` being
``time.monotonic_ns()`` just before the frame went to the socket: CLOCK_MONOTONIC is one
clock for every process on the machine, so the benchmark compares it with the arrival the
agents' clients stamp. ``prime`` gives every lane a lowered barrier and a car read with
its snapshot; ``churn RATE SECONDS`` sends RATE changes a second, spread over the
process's lanes, for SECONDS (``bench/lane_changes.py``); each prints ``{"churned": N,
"shown": {LANE: {"gate", "plate"}}}`` when its last frame has left: what each lane last
said. A link the centre closes prints ``{"closed": LANE, "code": N}``, an error it
answers ``{"error": CODE, "lane": LANE}``. The end of stdin ends it.
``Fleet`` is the benchmark's end of such processes.

The lanes are not ``LaneAgent`` (``bench/lane_fleet.py``): the press must be stamped as
it leaves, which the agent's queue of events would hide.
"""

from __future__ import annotations

import asyncio
import json
import sys
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from bench.call_desks import Signal
from bench.lane_changes import LaneChanges
from bench.processes import Process
from console.service import run_fast
from gates.lane.agent import link_url

HEARTBEAT_MS = 5000
# Lanes dialling at once: all 500 together would only queue in the centre's backlog.
DIALLING = 50


def say(line: dict[str, object]) -> None:
    print(json.dumps(line), flush=True)


@dataclass
class Lane:
    id: str
    ws: ClientConnection
    heartbeat_s: float
    last_sent: float

    async def send(self, frame: str) -> None:
        await self.ws.send(frame)
        self.last_sent = time.monotonic()


async def dial(url: str, lane_id: str, token: str, gate: asyncio.Semaphore) -> Lane:
    """Connect and be welcomed; the server is listening before lanes are started."""
    async with gate:
        ws = await connect(url, compression=None)
        hello = {"type": "hello", "v": 1, "lane": lane_id, "token": token}
        await ws.send(json.dumps({**hello, "heartbeat_ms": HEARTBEAT_MS, "agent": "bench"}))
        welcome = json.loads(await ws.recv())
        if welcome.get("type") != "welcome":
            raise SystemExit(f"call_lanes: lane {lane_id} was not welcomed: {welcome}")
        return Lane(lane_id, ws, welcome["heartbeat_ms"] / 1000, time.monotonic())


async def listen(lane: Lane) -> None:
    try:
        async for raw in lane.ws:
            message = json.loads(raw)
            if message.get("type") == "error":
                say({"error": message.get("code"), "lane": lane.id})
    except ConnectionClosed as exc:
        say({"closed": lane.id, "code": exc.rcvd.code if exc.rcvd else None})


async def heartbeats(lanes: list[Lane]) -> None:
    """Each lane beats when it has been quiet for its interval: the task sleeps until
    the next beat falls due (any frame sent meanwhile puts that lane's off)."""
    while True:
        now = time.monotonic()
        for lane in lanes:
            if now - lane.last_sent >= lane.heartbeat_s:
                await lane.send('{"type":"heartbeat"}')
        due = min((lane.last_sent + lane.heartbeat_s for lane in lanes), default=now + 1.0)
        await asyncio.sleep(max(0.0, due - time.monotonic()))  # the heartbeats' timetable


async def churn(lanes: dict[str, Lane], changes: LaneChanges, args: list[str]) -> int:
    """Every lane primed (no ``args``), or ``RATE SECONDS`` of changes on a timetable of
    their own, whatever a send took; how many frames were sent."""
    if not args:
        frames = [(lane, frame) for lane in lanes for frame in changes.prime(lane)]
        for lane, frame in frames:
            await lanes[lane].send(frame)
        return len(frames)
    rate, seconds = float(args[0]), float(args[1])
    total = round(rate * seconds)
    start = time.monotonic()
    for n in range(total):
        await asyncio.sleep(max(0.0, start + n / rate - time.monotonic()))
        lane, frame = changes.change()
        await lanes[lane].send(frame)
    return total


async def main(server: str, lanes_file: Path) -> None:
    tokens: dict[str, str] = json.loads(lanes_file.read_text())
    url = link_url(server)
    gate = asyncio.Semaphore(DIALLING)
    lanes = await asyncio.gather(*(dial(url, lane, token, gate) for lane, token in tokens.items()))
    by_id = {lane.id: lane for lane in lanes}
    tasks = [asyncio.create_task(listen(lane)) for lane in lanes]
    tasks.append(asyncio.create_task(heartbeats(lanes)))
    say({"ready": len(lanes)})

    loop = asyncio.get_running_loop()
    stdin = asyncio.StreamReader()
    await loop.connect_read_pipe(lambda: asyncio.StreamReaderProtocol(stdin), sys.stdin)
    changes: LaneChanges | None = None
    while line := (await stdin.readline()).decode().split():
        match line:
            case ["call", lane_id, event_id]:
                lane = by_id[lane_id]
                frame = json.dumps({"type": "call", "event_id": event_id})
                sent_ns = time.monotonic_ns()
                await lane.send(frame)
                say({"lane": lane_id, "event_id": event_id, "sent_ns": sent_ns})
            case ["prime"] | ["churn", _, _]:
                # Drawn on first use: the call benchmark never needs snapshots.
                changes = changes or LaneChanges(list(by_id), seed=min(by_id))
                sent = await churn(by_id, changes, line[1:])
                shown = {lane: asdict(what) for lane, what in changes.shown.items()}
                say({"churned": sent, "shown": shown})
            case _:
                raise SystemExit(f"call_lanes: expected call, prime or churn, not {line}")
    for task in tasks:
        task.cancel()
    await asyncio.gather(*tasks, return_exceptions=True)
    await asyncio.gather(*(lane.ws.close() for lane in lanes), return_exceptions=True)


class Fleet:
    """Lanes spread over processes of this module: a press sent on command, when it
    left, and what the processes reported."""

    def __init__(self, processes: list[Process], home: dict[str, Process]) -> None:
        self.processes = processes
        self.home = home  # lane id -> the process that has it
        self.closed: list[dict[str, object]] = []  # links the centre closed
        self.errors: list[dict[str, object]] = []  # errors it answered
        self._ready = 0
        self._signal = Signal()
        self._sent: dict[str, asyncio.Future[int]] = {}
        self._churned: list[dict[str, Any]] = []
        self._reading = [asyncio.create_task(self._read(process)) for process in processes]

    @classmethod
    async def start(
        cls, name: str, server: str, tokens: dict[str, str], count: int, work_dir: Path,
        env: dict[str, str],
    ) -> Fleet:  # fmt: skip
        """``count`` processes sharing ``tokens``' lanes, once every lane is welcomed."""
        lanes = list(tokens.items())
        processes, home = [], {}
        for k in range(count):
            share = dict(lanes[k::count])
            path = work_dir / f"{name.replace(' ', '-')}-{k}.json"
            path.write_text(json.dumps(share))
            process = await Process.start(
                f"{name} {k}", ["bench.call_lanes", server, str(path)], env, pipes=True
            )
            processes.append(process)
            home.update(dict.fromkeys(share, process))
        fleet = cls(processes, home)
        await fleet._until_ready()
        return fleet

    def press(self, lane: str, event_id: str) -> asyncio.Future[int]:
        """Press ``lane``'s call button; resolves to when the frame left (ns)."""
        sent = self._sent[event_id] = asyncio.get_running_loop().create_future()
        stdin = self.home[lane].process.stdin
        assert stdin is not None
        stdin.write(f"call {lane} {event_id}\n".encode())
        return sent

    async def churn(self, *args: float) -> dict[str, dict[str, str | None]]:
        """Every lane primed (no ``args``), or ``rate, seconds`` of changes shared among
        the processes; once every frame has left, what each lane last said."""
        words = ["prime"]
        if args:
            words = ["churn", str(args[0] / len(self.processes)), str(args[1])]
        self._churned = []
        for process in self.processes:
            stdin = process.process.stdin
            assert stdin is not None
            stdin.write((" ".join(words) + "\n").encode())
        timeout = 60 + (args[1] if args else 0)
        if not await self._signal.until(lambda: len(self._churned) == len(self.processes), timeout):
            raise RuntimeError(f"{len(self._churned)} of {len(self.processes)} lane processes done")
        return {lane: what for said in self._churned for lane, what in said["shown"].items()}

    async def stop(self) -> None:
        for process in self.processes:
            if process.process.stdin is not None:
                process.process.stdin.close()
        for process in self.processes:
            await process.stop()
        await asyncio.gather(*self._reading, return_exceptions=True)

    async def _until_ready(self) -> None:
        def dead() -> list[Process]:
            return [p for p in self.processes if p.process.returncode is not None]

        await self._signal.until(lambda: bool(dead()) or self._ready == len(self.processes), 120)
        if gone := dead():
            raise RuntimeError(f"{gone[0].name} exited:\n" + "\n".join(gone[0].tail))
        if self._ready < len(self.processes):
            raise RuntimeError(f"{self._ready} of {len(self.processes)} lane processes ready")

    async def _read(self, process: Process) -> None:
        stdout = process.process.stdout
        assert stdout is not None
        while line := await stdout.readline():
            said = json.loads(line)
            if "ready" in said:
                self._ready += 1
            elif "sent_ns" in said:
                self._sent[said["event_id"]].set_result(said["sent_ns"])
            elif "churned" in said:
                self._churned.append(said)
            elif "closed" in said:
                self.closed.append(said)
            else:
                self.errors.append(said)
            self._signal.changed()
        self._signal.changed()


if __name__ == "__main__":
    run_fast(main(sys.argv[1], Path(sys.argv[2])))
