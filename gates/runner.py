"""Builds a lane agent from command-line choices: the URL, the token, the driver."""

from __future__ import annotations

import random
from pathlib import Path

from .agent import LaneAgent, link_url
from .lane_session import LaneSession
from .memory import CommandJournal, CommandMemory
from .sim import SimLane, SimTiming


async def run_lane(
    server: str,
    lane: str,
    token: str,
    *,
    driver: str = "sim",
    lift_s: float = 1.5,
    seed: int | None = None,
    heartbeat_ms: int = 5000,
    state: Path | None = None,
) -> None:
    if driver != "sim":
        raise SystemExit(f"unknown driver {driver!r}; this build has: sim")
    sim = SimLane(lane, random.Random(seed), SimTiming(lift_s=lift_s))
    memory = CommandJournal(state) if state is not None else CommandMemory()
    session = LaneSession(
        lane, token, heartbeat_ms=heartbeat_ms, agent="seat-lane/sim", memory=memory
    )
    await LaneAgent(link_url(server), session, sim).run()
