"""The centre's CPU while it streams one lane to viewers in other processes.

The lane keeps streaming with no viewer (a long ``SEAT_MEDIA_GRACE_S``), which is the
zero; then viewers are added in ``bench.viewer_worker`` processes, spread evenly, and
after each step the centre's CPU is read from ``/proc/<pid>/stat`` over a fixed window,
with the whole machine's load and every viewer's frame rate over the same window (a
centre that cannot keep up shows as viewers short of the lane's frame rate).
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import statistics
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from bench.gate_latency import cpu_seconds
from bench.processes import Centre, Process, centre

WINDOW_S = 10.0
SETTLE_S = 3.0  # connections settle after joining
GRACE_S = 600.0  # the lane keeps streaming with no viewer: the zero of the figures
WORKERS = 4
CPUS = os.cpu_count() or 1


class Workers:
    """Viewer processes (``bench.viewer_worker``), viewers spread evenly over them."""

    def __init__(self, processes: list[Process]) -> None:
        self.processes = processes
        self.viewers = [0] * len(processes)

    @classmethod
    async def start(cls, running: Centre, lane: str) -> Workers:
        args = ["bench.viewer_worker", running.url, lane]
        processes = [
            await Process.start(f"viewers {n}", args, running.env, pipes=True)
            for n in range(WORKERS)
        ]
        workers = cls(processes)
        try:
            # A worker answers once it has started and logged in: none is still loading
            # its modules during a window.
            await asyncio.gather(*(workers.ask(n, "count") for n in range(WORKERS)))
        except BaseException:
            await workers.stop()
            raise
        return workers

    async def ask(self, worker: int, command: str) -> dict[str, Any]:
        process = self.processes[worker].process
        assert process.stdin is not None and process.stdout is not None
        process.stdin.write(command.encode() + b"\n")
        await process.stdin.drain()
        line = await asyncio.wait_for(process.stdout.readline(), 60)
        if not line:
            raise RuntimeError(
                f"viewer worker {worker} exited:\n" + "\n".join(self.processes[worker].tail)
            )
        answer: dict[str, Any] = json.loads(line)
        return answer

    async def open(self, total: int, mode: str = "") -> None:
        """Open viewers until there are ``total``; a worker answers once its new viewer
        has a frame. ``mode`` "listen" or "talk": viewers that hear the lane too."""
        while sum(self.viewers) < total:
            worker = self.viewers.index(min(self.viewers))
            await self.ask(worker, f"open 1 {mode}".strip())
            self.viewers[worker] += 1

    async def close(self) -> None:
        for worker, count in enumerate(self.viewers):
            if count:
                await self.ask(worker, "close")
        self.viewers = [0] * len(self.processes)

    async def counts(self) -> dict[str, list[int]]:
        """Per viewer: frames, video packets and audio packets received so far."""
        answers = await asyncio.gather(
            *(self.ask(n, "count") for n, viewers in enumerate(self.viewers) if viewers)
        )
        keys = ("frames", "video_packets", "audio_packets")
        return {key: [value for answer in answers for value in answer[key]] for key in keys}

    async def stop(self) -> None:
        """End of input: each worker closes its viewers and exits (else it is ended)."""
        for process in self.processes:
            if process.process.stdin is not None:
                process.process.stdin.close()
        for process in self.processes:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(process.process.wait(), 5)
            await process.stop()


def machine_busy() -> tuple[float, float]:
    """(busy, total) jiffies of all CPUs, from /proc/stat."""
    fields = [int(v) for v in Path("/proc/stat").read_text().split("\n", 1)[0].split()[1:]]
    idle = fields[3] + fields[4]  # idle + iowait
    return sum(fields) - idle, sum(fields)


async def window(running: Centre, workers: Workers) -> dict[str, float]:
    """The centre's CPU (% of one core), and each viewer's frame rate and packets per
    second of each kind, over one window."""
    await asyncio.sleep(SETTLE_S)  # connections settle after joining
    before = await workers.counts()
    cpu_before = cpu_seconds(running.process.pid)
    busy_before, total_before = machine_busy()
    started = time.perf_counter()
    await asyncio.sleep(WINDOW_S)  # the measurement window itself
    wall = time.perf_counter() - started
    cpu = cpu_seconds(running.process.pid) - cpu_before
    busy_after, total_after = machine_busy()
    after = await workers.counts()
    rates = {
        key: [(b - a) / wall for a, b in zip(before[key], after[key], strict=True)]
        for key in before
    }
    return {
        "centre_pct": 100 * cpu / wall,
        "machine_pct": 100 * CPUS * (busy_after - busy_before) / (total_after - total_before),
        "fps_min": min(rates["frames"], default=0.0),
        "fps_mean": statistics.fmean(rates["frames"]) if rates["frames"] else 0.0,
        "video_pps": statistics.fmean(rates["video_packets"]) if rates["frames"] else 0.0,
        "audio_pps": statistics.fmean(rates["audio_packets"]) if rates["frames"] else 0.0,
    }


async def centre_cpu(
    data_dir: Path, lane: str, size: str, fps: int, counts: Sequence[int], module: Sequence[str]
) -> dict[int, dict[str, float]]:
    """The load of the centre ``module`` runs, streaming a ``seat lane`` agent's camera
    to no viewer, then to each count of viewers."""
    async with centre(data_dir, [lane], module=module, grace_s=GRACE_S) as running:
        await running.add_lane_agent(lane, size=size, fps=fps)
        workers = await Workers.start(running, lane)
        try:
            # One viewer starts the stream; the long grace keeps it up once it leaves.
            await workers.open(1)
            await workers.close()
            loads = {0: await window(running, workers)}
            for count in counts:
                await workers.open(count)
                loads[count] = await window(running, workers)
            return loads
        finally:
            await workers.stop()


async def audio_cpu(
    data_dir: Path, lane: str, size: str, fps: int, counts: Sequence[int]
) -> dict[str, dict[int, dict[str, float]]]:
    """What hearing the lane costs the centre, beside what watching it does, in one run:
    the stream to no viewer with video alone, then each count of video viewers; the
    stream to no viewer with the lane's microphone on too, then each count of listeners
    (video and audio); then one agent on the intercom (the floor is one voice)."""
    async with centre(data_dir, [lane], grace_s=GRACE_S) as running:
        await running.add_lane_agent(lane, size=size, fps=fps)
        workers = await Workers.start(running, lane)
        try:
            video: dict[int, dict[str, float]] = {}
            audio: dict[int, dict[str, float]] = {}
            for mode, loads in (("", video), ("listen", audio)):
                # One viewer starts the stream as this mode needs it; it goes on once
                # the viewer leaves (the long grace), streaming to nobody: the zero.
                await workers.open(1, mode)
                await workers.close()
                loads[0] = await window(running, workers)
                for count in counts:
                    await workers.open(count, mode)
                    loads[count] = await window(running, workers)
                    await workers.close()
            await workers.open(1, "talk")
            talk = {1: await window(running, workers)}
            return {"video": video, "listen": audio, "talk": talk}
        finally:
            await workers.stop()
