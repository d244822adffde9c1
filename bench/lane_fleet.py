"""Many simulated lanes in one process, for the benchmarks.

    python bench/lane_fleet.py CENTRE_URL[,CENTRE_URL...] LANES_JSON [--heartbeat-ms N]
        [--ramp LANES_PER_S]

``LANES_JSON`` maps lane ids to tokens. Each lane is a real ``LaneAgent`` with the
``sim`` driver, its mechanical lift time zero and no cars arriving, so what is measured
is the software path and heartbeats. Given several centres, every lane has all of them
and fails over as ``seat lane --server`` does; the list is rotated by one from each lane
to the next, so the lanes' first centres are spread evenly (the others each lane orders
by its id, ``gates.lane.rotation.dial_order``). ``--ramp``
switches the lanes on one after another, as a car park's do, rather than all at once.

A line on stdin asks for a report, one JSON line: ``opens``, how many times the fleet's
barriers really lifted; ``commands``, how many command ids the lanes executed; and
``repeated``, each command id executed more than once with its count (none, when the
lanes' journals did their work).
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
import math
import random
import sys
from collections import Counter
from pathlib import Path

from console.service import run_fast
from gates.backoff import Backoff
from gates.lane.agent import LaneAgent, link_url
from gates.lane.session import LaneSession
from gates.lane.sim import SimLane, SimTiming

QUIET = SimTiming(lift_s=0.0, mean_arrival_s=math.inf)
# The agent logs this once per command its driver carried out, with the command's id.
EXECUTED = "lane.command.ended"


class Executions(logging.Handler):
    """Counts the agents' executions per command id from their log records."""

    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.counts: Counter[str] = Counter()

    def emit(self, record: logging.LogRecord) -> None:
        if isinstance(record.msg, str) and record.msg.startswith(EXECUTED):
            assert isinstance(record.args, tuple)
            self.counts[str(record.args[1])] += 1


def rotated(urls: list[str], n: int) -> list[str]:
    shift = n % len(urls)
    return urls[shift:] + urls[:shift]


async def main(servers: list[str], lanes_file: Path, heartbeat_ms: int, ramp: float) -> None:
    tokens: dict[str, str] = json.loads(lanes_file.read_text())
    urls = [link_url(server) for server in servers]
    executions = Executions()
    agent_log = logging.getLogger("seat.lane")
    agent_log.setLevel(logging.INFO)

    agent_log.addHandler(executions)
    drivers = {lane: SimLane(lane, random.Random(lane), QUIET) for lane in tokens}
    agents = [
        LaneAgent(
            rotated(urls, n),
            LaneSession(lane, token, heartbeat_ms=heartbeat_ms),
            drivers[lane],
            Backoff(first=0.2, cap=5.0),
        )
        for n, (lane, token) in enumerate(tokens.items())
    ]
    running = []
    for agent in agents:
        running.append(asyncio.create_task(agent.run()))
        await asyncio.sleep(1 / ramp)  # lanes switched on one after another, not at once
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    report = {
        "opens": sum(driver.opens for driver in drivers.values()),
        "commands": len(executions.counts),
        "repeated": {cid: n for cid, n in executions.counts.items() if n > 1},
    }
    print(json.dumps(report), flush=True)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("servers", help="the centres' URLs, comma-separated")
    parser.add_argument("lanes", type=Path, help="a JSON file mapping lane ids to tokens")
    parser.add_argument("--heartbeat-ms", type=int, default=5000)
    parser.add_argument("--ramp", type=float, default=math.inf, help="lanes started per second")
    args = parser.parse_args()
    run_fast(main(args.servers.split(","), args.lanes, args.heartbeat_ms, args.ramp))
