"""Many simulated lanes in one process, for the benchmarks.

    python bench/lane_fleet.py CENTRE_URL LANES_JSON

``LANES_JSON`` maps lane ids to tokens. Each lane is a real ``LaneAgent`` with the
``sim`` driver, its mechanical lift time zero and no cars arriving, so what is measured
is the software path and heartbeats. A line on stdin asks for a report: one JSON line
``{"opens": N}`` with how many times the fleet's barriers really lifted.
"""

from __future__ import annotations

import asyncio
import json
import math
import random
import sys
from pathlib import Path

from console.service import run_fast
from gates.backoff import Backoff
from gates.lane.agent import LaneAgent, link_url
from gates.lane.session import LaneSession
from gates.lane.sim import SimLane, SimTiming

QUIET = SimTiming(lift_s=0.0, mean_arrival_s=math.inf)


async def main(server: str, lanes_file: Path) -> None:
    tokens: dict[str, str] = json.loads(lanes_file.read_text())
    url = link_url(server)
    drivers = {lane: SimLane(lane, random.Random(lane), QUIET) for lane in tokens}
    agents = [
        LaneAgent([url], LaneSession(lane, token), drivers[lane], Backoff(first=0.2, cap=5.0))
        for lane, token in tokens.items()
    ]
    running = [asyncio.create_task(agent.run()) for agent in agents]
    loop = asyncio.get_running_loop()
    await loop.run_in_executor(None, sys.stdin.readline)
    print(json.dumps({"opens": sum(driver.opens for driver in drivers.values())}), flush=True)
    for task in running:
        task.cancel()
    await asyncio.gather(*running, return_exceptions=True)


if __name__ == "__main__":
    run_fast(main(sys.argv[1], Path(sys.argv[2])))
