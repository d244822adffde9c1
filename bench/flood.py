"""One lane flooding the centre: what it costs the other lanes.

Starts ``seat serve`` (with a 2 s command timeout), a fleet of real lane agents
(``bench.lane_fleet``, lift time zero) and a broken lane client (``bench.flood_lane``),
quiet for the first half and for the second sending gate events as fast as its
connection takes them. Each half sends open-gate commands to the fleet over the HTTP
API, one at a time, timing each to its outcome, while another client times ``/healthz``
every 50 ms; the centre's CPU is read from ``/proc``. Commands also go to the broken
lane, which never answers: each must end as ``timeout`` at its deadline, flood or not
(the figure is the latest, request to answer: the deadline plus two ledger commits and
the HTTP round trip). The broken lane runs at the lowest priority, standing in for a
lane on another machine; in the first half a process burning a core at that priority
takes its place, so both halves load the machine alike.

Each figure under the flood is printed against the same figure without it:

    python bench/flood.py [--lanes 8] [--commands 500] [--json]

The machine is shared and noisy: read the ratios.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import random
import statistics
import sys
import tempfile
import time
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import measure_and_print
from bench.gate_latency import HttpConnection, cpu_seconds, login, percentile
from bench.processes import Centre, Process, centre

TIMEOUT_S = 2.0
FLOODER = "FLOOD"
HEALTHZ_EVERY_S = 0.05
DEADLINE_COMMANDS = 5
WARM_UP = 50


async def open_gate(connection: HttpConnection, lane: str, headers: dict[str, str]) -> str:
    body = json.dumps({"reason": "equipment_fault", "note": "bench"}).encode()
    status, _, payload = await connection.request("POST", f"/api/lanes/{lane}/open", body, headers)
    outcome: str = json.loads(payload).get("outcome", f"http_{status}")
    return outcome


async def commands(
    port: int, lanes: list[str], count: int, headers: dict[str, str]
) -> tuple[list[float], dict[str, int]]:
    """``count`` opens to random lanes, one at a time: latencies in ms, and outcomes."""
    rng = random.Random(1)
    connection = await HttpConnection.open(port)
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    try:
        for _ in range(count):
            started = time.perf_counter()
            outcome = await open_gate(connection, rng.choice(lanes), headers)
            latencies.append((time.perf_counter() - started) * 1000)
            outcomes[outcome] = outcomes.get(outcome, 0) + 1
    finally:
        connection.close()
    return latencies, outcomes


async def healthz(port: int, stop: asyncio.Event) -> list[float]:
    """``/healthz`` latencies in ms, one request every ``HEALTHZ_EVERY_S`` until ``stop``."""
    connection = await HttpConnection.open(port)
    times = []
    try:
        while not stop.is_set():
            started = time.perf_counter()
            await connection.request("GET", "/healthz", b"", {})
            times.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(HEALTHZ_EVERY_S)  # the probe's pace
    finally:
        connection.close()
    return times


async def deadlines(port: int, headers: dict[str, str]) -> list[tuple[float, str]]:
    """Opens to the flooding lane, which never answers: ms to each outcome, and it."""
    connection = await HttpConnection.open(port)
    ended = []
    try:
        for _ in range(DEADLINE_COMMANDS):
            started = time.perf_counter()
            outcome = await open_gate(connection, FLOODER, headers)
            ended.append(((time.perf_counter() - started) * 1000, outcome))
    finally:
        connection.close()
    return ended


async def half(
    running: Centre, port: int, lanes: list[str], count: int, headers: dict[str, str]
) -> dict[str, Any]:
    stop = asyncio.Event()
    probe = asyncio.create_task(healthz(port, stop))
    timeouts = asyncio.create_task(deadlines(port, headers))
    cpu_before = cpu_seconds(running.process.pid)
    started = time.perf_counter()
    latencies, outcomes = await commands(port, lanes, count, headers)
    ended = await timeouts
    wall = time.perf_counter() - started
    cpu = cpu_seconds(running.process.pid) - cpu_before
    stop.set()
    health = await probe
    return {
        "p50_ms": round(statistics.median(latencies), 2),
        "p99_ms": round(percentile(latencies, 99), 2),
        "outcomes": outcomes,
        "healthz_p50_ms": round(statistics.median(health), 2),
        "healthz_p99_ms": round(percentile(health, 99), 2),
        "server_cpu_pct": round(100 * cpu / wall, 1),
        "timeout_latest_ms": round(max(ms for ms, _ in ended), 1),
        "timeout_outcomes": sorted({outcome for _, outcome in ended}),
    }


async def flood_lane(running: Centre) -> Process:
    """The broken lane, connected and quiet."""
    env = {**running.env, "SEAT_LANE_TOKEN": running.tokens[FLOODER]}
    flooder = await Process.start(
        "flood", ["bench.flood_lane", running.url, FLOODER], env, pipes=True
    )
    running.lanes.append(flooder)
    assert flooder.process.stdout is not None
    async with asyncio.timeout(30):
        await flooder.process.stdout.readline()  # welcome
    return flooder


async def tell(flooder: Process, command: str, until: str) -> dict[str, Any]:
    """Send ``command`` to the flooder; its first line after that naming ``until``."""
    process = flooder.process
    assert process.stdin is not None and process.stdout is not None
    process.stdin.write(command.encode() + b"\n")
    async with asyncio.timeout(30):
        while True:
            line: dict[str, Any] = json.loads(await process.stdout.readline())
            if until in line:
                return line


@contextlib.asynccontextmanager
async def burner() -> AsyncIterator[None]:
    """A process burning a core at the flooder's low priority, for the baseline half. On
    a virtual machine a core left idle is slow to wake, so without it the quiet half
    would be the slower one for want of load, not for the flood's absence."""
    process = await asyncio.create_subprocess_exec(
        sys.executable, "-c", "import os\nos.nice(19)\nwhile True: pass"
    )
    try:
        yield
    finally:
        process.kill()
        await process.wait()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    fleet = [f"F{n:02d}" for n in range(args.lanes)]
    with tempfile.TemporaryDirectory(prefix="seat-flood-") as tmp:
        data_dir = Path(tmp)
        async with centre(
            data_dir, [*fleet, FLOODER], env={"SEAT_COMMAND_TIMEOUT_S": str(TIMEOUT_S)}
        ) as running:
            tokens = data_dir / "fleet.json"
            tokens.write_text(json.dumps({lane: running.tokens[lane] for lane in fleet}))
            lanes = await Process.start(
                "fleet", ["bench.lane_fleet", running.url, str(tokens)], running.env, pipes=True
            )
            running.lanes.append(lanes)
            flooder = await flood_lane(running)
            await running.wait_online(len(fleet) + 1)
            port = int(running.url.rsplit(":", 1)[1])
            headers = await login(port)
            await commands(port, fleet, WARM_UP, headers)
            async with burner():
                calm = await half(running, port, fleet, args.commands, headers)
            await tell(flooder, "flood", until="error")
            flooded = await half(running, port, fleet, args.commands, headers)
            sent = await tell(flooder, "report", until="sent")
    return {"calm": calm, "flooded": flooded, "flood": sent, "timeout_s": TIMEOUT_S}


def report(result: dict[str, Any]) -> list[str]:
    """One line per figure: ``name: value unit (ratio vs baseline)``, the baseline the
    same figure without the flood (the command deadline for the timeouts)."""
    calm, flooded, flood = result["calm"], result["flooded"], result["flood"]

    def against(name: str, key: str, unit: str) -> str:
        ratio = round(flooded[key] / calm[key], 2) if calm[key] else float("inf")
        return f"{name}: {flooded[key]} {unit} ({ratio}x no-flood {calm[key]} {unit})"

    errors = flood["errors"]
    return [
        against("flood_other_lane_gate_p50", "p50_ms", "ms"),
        against("flood_other_lane_gate_p99", "p99_ms", "ms"),
        against("flood_healthz_p50", "healthz_p50_ms", "ms"),
        against("flood_healthz_p99", "healthz_p99_ms", "ms"),
        against("flood_timeout_latest", "timeout_latest_ms", "ms"),
        against("flood_server_cpu", "server_cpu_pct", "% of a core"),
        f"flood_lane_sent: {round(flood['sent'] / flood['seconds'])} frames/s "
        f"({errors.get('rate_limited', 0)} answered rate_limited in {flood['seconds']} s)",
        f"flood_outcomes: other lanes {flooded['outcomes']}, flooding lane "
        f"{', '.join(flooded['timeout_outcomes'])} (no-flood: {calm['outcomes']}, "
        f"{', '.join(calm['timeout_outcomes'])})",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lanes", type=int, default=8)
    parser.add_argument("--commands", type=int, default=500)
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    measure_and_print(lambda: bench(args), report, as_json=args.json)


if __name__ == "__main__":
    main()
