"""The call queue's speed, measured end to end against a bare relay.

Starts the real centre (``seat serve``, ``SEAT_CALL_WRAP_S=0`` so an agent is free again
as soon as a call ends) with 500 lanes in 10 car parks, simulated by four processes
speaking the real lane link (``bench/call_lanes.py``), and 20 agents, accounts made
with ``seat user add`` covering every car park, each logged in with one console tab on
``/api/stream`` (``bench/call_desks.py``).

- **Ring**: 200 presses, one at a time, each from its own lane, each answered and
  ended before the next: from the lane process sending its ``call`` frame to the
  ``ring`` arriving at the agent rung. Both ends stamp ``time.monotonic_ns()``, one
  clock for every process on the machine.
- **Accept**: from the rung agent's accept request to the call leaving the queue of
  the slowest of the 19 others (a ``queue`` message without it, or the call arriving
  answered).
- **Floor**: the same lane processes and agent client through a bare WebSocket relay
  on the centre's own server stack (``bench/call_floor.py``), one relayed press before
  each ring, so both see the same machine.
- **Storm**: 200 presses from 200 other lanes within one second, and every agent
  racing for every call: whenever free, each POSTs accept for the first call in its
  queue it has not lost yet (409 ``call_taken`` is expected for all but one), ends the
  one it wins, and goes on. Counted: calls made, calls never ended, calls accepted
  twice, and calls in the day's ``call_records`` (the database read with sqlite3,
  read-only, once the centre stopped).

Each figure is printed as ``name: value unit (ratio vs baseline)``, with its target
where it has one; ``--json`` ends with one JSON object of every figure.

    python bench/calls.py [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import os
import sqlite3
import statistics
import sys
import tempfile
import time
from collections import Counter
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.call_desks import Desk, Room, Signal
from bench.call_floor import FloorAgent
from bench.call_lanes import Fleet
from bench.figures import measure_and_print
from bench.gate_latency import ROW_BYTES, cpu_seconds, free_port, percentile
from bench.processes import PASSWORD, Centre, Process, seat
from console.auth import new_token, token_hash
from console.models import Direction, LaneRecord
from console.sqlite_store import SQLiteStore

LANES = 500
CAR_PARKS = 10
LANE_PROCESSES = 4
AGENTS = 20
RING_CALLS = 200
WARM_UP = 10  # presses before the measured ones, not counted
STORM_CALLS = 200
STORM_WINDOW_S = 1.0
FLOOR_LANE = "FLOOR-1"
WAIT_S = 10.0  # for any one thing the centre should do at once
# The storm is waited for while calls keep ending: until none has for this long, or
# at most STORM_MAX_S after it began (a call nobody answers is abandoned only after
# SEAT_CALL_ABANDON_S, 300 s, longer than a benchmark waits).
STORM_STALL_S = 15.0
STORM_MAX_S = 90.0

RATIO_P99_TARGET = 3.0
RING_P99_TARGET_MS = 100.0


# ------------------------------------------------------------------ set-up


def progress(text: str) -> None:
    """Where a run of a few minutes is, on stderr (stdout has the figures)."""
    print(f"calls: {text}", file=sys.stderr, flush=True)


def lane_ids() -> list[str]:
    return [f"L{n:03d}" for n in range(LANES)]


async def seed_lanes(data_dir: Path, lanes: list[str], car_parks: int) -> dict[str, str]:
    """The lanes, straight into the store before the centre starts (the CLI would start
    500 processes); entry and exit alternate, car parks take turns."""
    store = await SQLiteStore.open(data_dir / "seat.db")
    try:
        tokens = {}
        for n, lane in enumerate(lanes):
            tokens[lane] = new_token()
            direction = Direction.EXIT if n % 2 else Direction.ENTRY
            park = f"停车场{n % car_parks + 1:02d}"
            await store.put_lane(LaneRecord(lane, lane, park, direction, token_hash(tokens[lane])))
        return tokens
    finally:
        await store.close()


async def add_agents(env: dict[str, str], names: list[str]) -> None:
    """With ``seat user add``, one at a time: a ``seat`` command starting while another
    writes may find the database between two states and refuse it (the ledger's key
    made but not yet its first checkpoint; the write-ahead log removed under its read)."""
    for name in names:
        await seat(env, "user", "add", name, "--role", "agent", stdin=PASSWORD + "\n")


# ------------------------------------------------------------------ one call at a time


@dataclass
class OneByOne:
    ring_ms: list[float] = field(default_factory=list)
    accept_ms: list[float] = field(default_factory=list)
    floor_ms: list[float] = field(default_factory=list)
    commit_ms: list[float] = field(default_factory=list)
    unrung: int = 0
    centre_cpu_s: float = 0.0


class DurableCommit:
    """One durable SQLite commit (WAL, synchronous=FULL) of a small row on the disk of
    the centre's database: each step of the queue waits for one (its ledger entries
    and state) before it tells anyone but the agents it rings, which the relay's floor
    does not. An accept waits for it."""

    def __init__(self, path: Path) -> None:
        self.db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=FULL")
        self.db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")

    def timed(self) -> float:
        """One commit, in ms."""
        started = time.perf_counter()
        self.db.execute("BEGIN")
        self.db.execute("INSERT INTO t (body) VALUES (?)", ("x" * ROW_BYTES,))
        self.db.execute("COMMIT")
        return (time.perf_counter() - started) * 1000

    def close(self) -> None:
        self.db.close()


async def end(desk: Desk, call_id: str) -> bool:
    status, _ = await desk.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
    return status == 200


async def relayed(lanes: Fleet, agent: FloorAgent, event_id: str) -> float:
    """One press through the floor's relay, in ms."""
    arrived = agent.arrival(event_id)
    sent = await lanes.press(FLOOR_LANE, event_id)
    return (await asyncio.wait_for(arrived, WAIT_S) - sent) / 1e6


async def rung_and_answered(
    fleet: Fleet, room: Room, desks: list[Desk], lane: str, event_id: str
) -> tuple[float, float] | None:
    """One press, answered by the agent rung and ended: its ring and accept times
    (ms), or None if no agent was rung."""
    sent = await fleet.press(lane, event_id)
    if not await room.signal.until(lambda: room.rung(lane) is not None, WAIT_S):
        return None
    ring = room.rung(lane)
    assert ring is not None
    desk, call_id = ring.desk, ring.call_id
    others = [other for other in desks if other is not desk]
    asked = time.monotonic_ns()
    status, answer = await desk.post(f"/api/calls/{call_id}/accept")
    if status != 200:
        raise RuntimeError(f"{desk.name} could not accept the call rung to them: {answer}")
    if not await room.signal.until(lambda: all(call_id in d.left for d in others), WAIT_S):
        raise RuntimeError(f"call {call_id} stayed in another agent's queue")
    left = max(other.left[call_id] for other in others)
    if not await end(desk, call_id):
        raise RuntimeError(f"{desk.name} could not end call {call_id}")
    over = await room.signal.until(
        lambda: desk.state == "available" and all(call_id in d.finished for d in desks), WAIT_S
    )
    if not over:
        raise RuntimeError(f"call {call_id} did not end for every agent")
    return (ring.at_ns - sent) / 1e6, (left - asked) / 1e6


async def one_at_a_time(
    fleet: Fleet, floor: Fleet, floor_agent: FloorAgent, commit: DurableCommit, room: Room,
    desks: list[Desk], lanes: list[str], centre_pid: int,
) -> OneByOne:  # fmt: skip
    """A relayed press, a commit, then a call, in turns, so the floors and the centre are
    measured on the same machine at the same moments."""
    result = OneByOne()
    cpu_before = 0.0
    for n, lane in enumerate(lanes):
        if n == WARM_UP:
            cpu_before = cpu_seconds(centre_pid)
        floor_ms = await relayed(floor, floor_agent, f"floor{n}")
        commit_ms = await asyncio.to_thread(commit.timed)
        timed = await rung_and_answered(fleet, room, desks, lane, f"ring{n}")
        if n < WARM_UP:
            continue
        result.floor_ms.append(floor_ms)
        result.commit_ms.append(commit_ms)
        if timed is None:
            result.unrung += 1
        else:
            result.ring_ms.append(timed[0])
            result.accept_ms.append(timed[1])
    result.centre_cpu_s = cpu_seconds(centre_pid) - cpu_before
    return result


# ------------------------------------------------------------------ the storm


@dataclass
class Tally:
    signal: Signal = field(default_factory=Signal)
    answers: Counter[str] = field(default_factory=Counter)  # accept answers: "200", "409 code"
    won: Counter[str] = field(default_factory=Counter)  # call id -> accepts answered 200
    ended: dict[str, int] = field(default_factory=dict)  # call id -> its end answered (ns)
    over: bool = False


async def race(desk: Desk, tally: Tally) -> None:
    """Whenever free, accept the first call in the queue not lost yet; end it if won."""
    tried: set[str] = set()

    def fresh() -> str | None:
        return next((call_id for call_id in desk.queue if call_id not in tried), None)

    while not tally.over:
        await desk.queue_signal.until(lambda: tally.over or fresh() is not None, STORM_STALL_S)
        call_id = fresh()
        if tally.over or call_id is None:
            continue
        tried.add(call_id)
        status, answer = await desk.post(f"/api/calls/{call_id}/accept")
        tally.answers[f"{status} {answer.get('error', '')}".strip()] += 1
        if status == 200:
            tally.won[call_id] += 1
            if await end(desk, call_id):
                tally.ended[call_id] = time.monotonic_ns()
                tally.signal.changed()
        elif answer.get("error") == "not_available":  # rings missed while racing: a break
            await desk.post("/api/agents/me/state", {"state": "available"})
            tried.discard(call_id)


@dataclass
class Storm:
    sent_ns: list[int]
    calls: list[str]
    tally: Tally


async def storm(fleet: Fleet, room: Room, desks: list[Desk], lanes: list[str]) -> Storm:
    tally = Tally()
    racers = [asyncio.create_task(race(desk, tally)) for desk in desks]
    presses = []
    start = time.monotonic()
    for n, lane in enumerate(lanes):
        # The presses' own timetable: evenly over the window, whatever a send took.
        await asyncio.sleep(max(0.0, start + n * STORM_WINDOW_S / len(lanes) - time.monotonic()))
        presses.append(fleet.press(lane, f"storm{n}"))
    sent = list(await asyncio.gather(*presses))

    def calls() -> list[str]:
        return [call_id for lane in lanes for call_id in room.calls_of.get(lane, [])]

    def all_ended() -> bool:
        return len(tally.ended.keys() & set(calls())) >= len(lanes)

    deadline = start + STORM_MAX_S
    while not all_ended() and time.monotonic() < deadline:
        latest = max(tally.ended.values(), default=min(sent))
        if time.monotonic_ns() - latest > STORM_STALL_S * 1e9:
            break  # stalled: nothing ended for a while
        await tally.signal.until(all_ended, 1.0)
    tally.over = True
    for desk in desks:
        desk.queue_signal.changed()
    await asyncio.gather(*racers)
    return Storm(sent, calls(), tally)


def recorded_today(database: Path, call_ids: list[str], since: datetime) -> tuple[int, float]:
    """How many of ``call_ids`` the day's call records hold as ended, and the longest
    wait among them (s); read-only, from the file."""
    with contextlib.closing(sqlite3.connect(f"file:{database}?mode=ro", uri=True)) as db:
        rows = db.execute("SELECT id, state, ended_at, wait_s FROM call_records").fetchall()
    wanted = set(call_ids)
    ours = [
        wait_s
        for call_id, state, ended_at, wait_s in rows
        if call_id in wanted and state == "ended" and datetime.fromisoformat(ended_at) >= since
    ]
    return len(ours), max(ours, default=0.0)


# ------------------------------------------------------------------ the run


async def bench() -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seat-bench-calls-") as tmp:
        data_dir = Path(tmp)
        tokens = await seed_lanes(data_dir, lane_ids(), CAR_PARKS)
        port = free_port()
        url = f"http://127.0.0.1:{port}"
        env = {
            **os.environ,
            "SEAT_DATA_DIR": str(data_dir),
            "SEAT_PORT": str(port),
            "SEAT_LOG_LEVEL": "WARNING",
            "SEAT_CALL_WRAP_S": "0",
        }
        names = [f"agent{n:02d}" for n in range(AGENTS)]
        await add_agents(env, names)
        since = datetime.now().astimezone().replace(hour=0, minute=0, second=0, microsecond=0)
        lanes = lane_ids()
        ring_lanes = lanes[: WARM_UP + RING_CALLS]
        storm_lanes = lanes[-STORM_CALLS:]
        async with contextlib.AsyncExitStack() as stack:
            server = await Process.start("seat serve", ["console.cli", "serve"], env)
            stack.push_async_callback(server.stop)
            centre = Centre(url, env, server, tokens)
            await centre.wait_online(0)
            fleet = await Fleet.start("lanes", url, tokens, LANE_PROCESSES, data_dir, env)
            stack.push_async_callback(fleet.stop)
            await centre.wait_online(LANES)

            relay_port = free_port()
            relay = await Process.start("relay", ["bench.call_floor", str(relay_port)], env)
            stack.push_async_callback(relay.stop)
            await relay.logged("bench.floor.listening", 1)
            floor_agent = await FloorAgent.open(relay_port)
            stack.push_async_callback(floor_agent.close)
            relay_url = f"http://127.0.0.1:{relay_port}"
            floor = await Fleet.start("floor", relay_url, {FLOOR_LANE: "-"}, 1, data_dir, env)
            stack.push_async_callback(floor.stop)

            room = Room()
            desks = []
            for name in names:  # one at a time: the centre checks few passwords at once
                desks.append(await Desk.open(port, name, PASSWORD, room))
                stack.push_async_callback(desks[-1].close)

            progress(f"{AGENTS} agents at their consoles: {RING_CALLS} calls one at a time")
            started = time.monotonic()
            commit = DurableCommit(data_dir / "commit-floor.db")
            stack.callback(commit.close)
            timed = await one_at_a_time(
                fleet, floor, floor_agent, commit, room, desks, ring_lanes, server.pid
            )
            one_by_one_s = time.monotonic() - started
            progress(f"the storm: {STORM_CALLS} presses in {STORM_WINDOW_S:g} s")
            stormed = await storm(fleet, room, desks, storm_lanes)
            progress("the storm is over")
            closed, errors = len(fleet.closed), len(fleet.errors)
        # The centre has stopped: its database is read as the file it left.
        recorded, longest_wait = recorded_today(data_dir / "seat.db", stormed.calls, since)
    return figures(timed, one_by_one_s, stormed, recorded, longest_wait, closed, errors)


def figures(
    timed: OneByOne, one_by_one_s: float, stormed: Storm, recorded: int, longest_wait: float,
    closed: int, errors: int,
) -> dict[str, Any]:  # fmt: skip
    def ms(values: list[float], p: float) -> float:
        return round(percentile(values, p), 2) if values else float("nan")

    tally = stormed.tally
    ended = [tally.ended[call_id] for call_id in stormed.calls if call_id in tally.ended]
    answered = len(timed.ring_ms)
    r: dict[str, Any] = {
        "ring_calls": answered,
        "ring_unrung": timed.unrung,
        "ring_ms_p50": round(statistics.median(timed.ring_ms), 2),
        "ring_ms_p99": ms(timed.ring_ms, 99),
        "ring_ms_max": round(max(timed.ring_ms), 2),
        "ring_ms_p50_first_50": round(statistics.median(timed.ring_ms[:50]), 2),
        "ring_ms_p50_last_50": round(statistics.median(timed.ring_ms[-50:]), 2),
        "floor_ms_p50": round(statistics.median(timed.floor_ms), 2),
        "floor_ms_p99": ms(timed.floor_ms, 99),
        "commit_ms_p50": round(statistics.median(timed.commit_ms), 2),
        "commit_ms_p99": ms(timed.commit_ms, 99),
        "accept_ms_p50": round(statistics.median(timed.accept_ms), 2),
        "accept_ms_p99": ms(timed.accept_ms, 99),
        "centre_cpu_ms_per_call": round(1000 * timed.centre_cpu_s / max(1, answered), 2),
        "one_by_one_s": round(one_by_one_s, 1),
        "storm_presses": len(stormed.sent_ns),
        "storm_press_span_ms": round((max(stormed.sent_ns) - min(stormed.sent_ns)) / 1e6, 1),
        "storm_calls": len(stormed.calls),
        "storm_lost": len(stormed.sent_ns) - len(ended),
        "storm_double_accepted": sum(1 for c in stormed.calls if tally.won[c] > 1),
        "storm_recorded": recorded,
        "storm_accepts": dict(tally.answers),
        "storm_s": round((max(ended) - min(stormed.sent_ns)) / 1e9, 2) if ended else None,
        "storm_wait_s_max": longest_wait,
        "lane_links_closed": closed,
        "lane_errors": errors,
    }
    r["ratio_p50"] = round(r["ring_ms_p50"] / r["floor_ms_p50"], 2)
    r["ratio_p99"] = round(r["ring_ms_p99"] / r["floor_ms_p99"], 2)
    r["targets_met"] = {
        "ratio_p99": r["ratio_p99"] <= RATIO_P99_TARGET,
        "ring_ms_p99": r["ring_ms_p99"] < RING_P99_TARGET_MS,
        "storm_lost": r["storm_lost"] == 0,
        "storm_double_accepted": r["storm_double_accepted"] == 0,
        "storm_recorded": recorded == r["storm_presses"],
    }
    return r


def report(r: dict[str, Any]) -> list[str]:
    """One line per figure: ``name: value unit (ratio vs baseline)``, targets with it."""
    met = {name: "met" if ok else "MISSED" for name, ok in r["targets_met"].items()}
    accepts = ", ".join(f"{n} {answer}" for answer, n in sorted(r["storm_accepts"].items()))
    n = r["ring_calls"]
    return [
        f"ring_ms_p50: {r['ring_ms_p50']} ms ({r['ratio_p50']}x floor p50 {r['floor_ms_p50']} ms;"
        f" {n} calls one at a time)",
        f"ring_ms_p99: {r['ring_ms_p99']} ms ({r['ratio_p99']}x floor p99 {r['floor_ms_p99']} ms;"
        f" target < {RING_P99_TARGET_MS:g} ms: {met['ring_ms_p99']})",
        f"ratio_p99: {r['ratio_p99']} x (ring p99 / floor p99; target <= {RATIO_P99_TARGET:g}:"
        f" {met['ratio_p99']})",
        f"ring_ms_p50_last_50: {r['ring_ms_p50_last_50']} ms"
        f" ({round(r['ring_ms_p50_last_50'] / r['ring_ms_p50_first_50'], 2)}x the first 50 calls'"
        f" {r['ring_ms_p50_first_50']} ms)",
        f"floor_ms_p50: {r['floor_ms_p50']} ms (bare relay lane -> server -> agent)",
        f"floor_ms_p99: {r['floor_ms_p99']} ms (bare relay lane -> server -> agent)",
        f"commit_ms_p50: {r['commit_ms_p50']} ms (one durable SQLite commit, which a step waits"
        f" for before it tells all but its ring; ring p50 is"
        f" {round(r['ring_ms_p50'] / r['commit_ms_p50'], 1)}x)",
        f"commit_ms_p99: {r['commit_ms_p99']} ms"
        f" (ring p99 is {round(r['ring_ms_p99'] / r['commit_ms_p99'], 1)}x)",
        f"accept_ms_p50: {r['accept_ms_p50']} ms"
        f" ({round(r['accept_ms_p50'] / r['floor_ms_p50'], 2)}x floor p50)",
        f"accept_ms_p99: {r['accept_ms_p99']} ms"
        f" ({round(r['accept_ms_p99'] / r['floor_ms_p99'], 2)}x floor p99)",
        f"centre_cpu_ms_per_call: {r['centre_cpu_ms_per_call']} ms (press, ring, accept, end;"
        f" {r['ring_unrung']} presses never rung)",
        f"storm_calls: {r['storm_calls']} calls ({r['storm_presses']} presses from as many lanes"
        f" in {r['storm_press_span_ms']} ms)",
        f"storm_lost: {r['storm_lost']} calls (target 0: {met['storm_lost']})",
        f"storm_double_accepted: {r['storm_double_accepted']} calls"
        f" (target 0: {met['storm_double_accepted']})",
        f"storm_recorded: {r['storm_recorded']} records (in the day's call_records;"
        f" target {r['storm_presses']}: {met['storm_recorded']})",
        f"storm_accepts: {sum(r['storm_accepts'].values())} requests ({accepts})",
        f"storm_s: {r['storm_s']} s (first press to last call ended)",
        f"storm_wait_s_max: {r['storm_wait_s_max']} s (longest wait for an answer, call_records)",
        f"lane_links_closed: {r['lane_links_closed']} (0 expected; {r['lane_errors']} errors)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    measure_and_print(bench, report, as_json=args.json)


if __name__ == "__main__":
    main()
