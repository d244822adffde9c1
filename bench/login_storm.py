"""/healthz during a login storm, against the same centre idle.

Starts ``seat serve`` and one ``seat lane`` agent (heartbeat every second, so its link
is closed 4408 after 2.5 s without one), with one account per storm client. First
/healthz is timed back to back for a while with nothing else going on; then again while
``--clients`` clients each log in over and over with their own account's right
password, the case the throttle never refuses, so every login costs an Argon2 check
(a client told 503 ``busy`` waits its Retry-After, as the console does).
Each figure is printed as ``name: value unit (ratio vs baseline)``, the baseline of
/healthz being the idle run; logins refused 503 ``busy`` (the centre's bound on
waiting checks) and lane link closes during the storm are counted.

    python -m bench.login_storm --clients 24 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import statistics
import tempfile
import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from bench.figures import measure_and_print
from bench.gate_latency import HttpConnection, percentile
from bench.processes import PASSWORD, Centre, Process, centre
from console.auth import hash_password
from console.models import Role
from console.sqlite_store import SQLiteStore

LANE = "STORM-1"


async def add_accounts(data_dir: Path, names: list[str]) -> None:
    """Straight into the store (the CLI would start one process per account)."""
    store = await SQLiteStore.open(data_dir / "seat.db")
    try:
        password_hash = hash_password(PASSWORD)
        for name in names:
            await store.add_user(name, Role.AGENT, password_hash, datetime.now(UTC))
    finally:
        await store.close()


async def healthz_until(port: int, stop: asyncio.Event) -> tuple[list[float], int]:
    """Back-to-back /healthz on one keep-alive connection until ``stop``: ms each, and
    how many answers showed the lane offline."""
    connection = await HttpConnection.open(port)
    latencies: list[float] = []
    lane_offline = 0
    try:
        while not stop.is_set():
            started = time.perf_counter()
            status, _, body = await connection.request("GET", "/healthz", b"", {})
            latencies.append((time.perf_counter() - started) * 1000)
            if status != 200:
                raise SystemExit(f"healthz answered {status} {body!r}")
            lane_offline += json.loads(body)["lanes_online"] != 1
    finally:
        connection.close()
    return latencies, lane_offline


async def log_in_until(port: int, username: str, stop: asyncio.Event) -> dict[int, int]:
    """Log in as ``username`` over and over until ``stop``, waiting out Retry-After as
    the console does; count of each status."""
    body = json.dumps({"username": username, "password": PASSWORD}).encode()
    statuses: dict[int, int] = {}
    while not stop.is_set():
        # A connection each: a wait of more than uvicorn's keep-alive would find it closed.
        connection = await HttpConnection.open(port)
        try:
            status, headers, _ = await connection.request(
                "POST", "/api/login", body, {"content-type": "application/json"}
            )
        finally:
            connection.close()
        statuses[status] = statuses.get(status, 0) + 1
        if "retry-after" in headers:
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(stop.wait(), int(headers["retry-after"]))
    return statuses


async def timed(seconds: float, work: list[asyncio.Task[Any]], stop: asyncio.Event) -> None:
    await asyncio.sleep(seconds)  # the measurement window: real time is the point
    stop.set()
    await asyncio.gather(*work)


async def bench(clients: int, seconds: float) -> dict[str, Any]:
    names = [f"storm{n}" for n in range(clients)]
    with tempfile.TemporaryDirectory(prefix="seat-login-storm-") as tmp:
        data_dir = Path(tmp)
        async with centre(data_dir, [LANE]) as running:
            await add_accounts(data_dir, names)
            lane = await start_lane(running)
            port = int(running.url.rsplit(":", 1)[1])

            stop = asyncio.Event()
            idle_task = asyncio.create_task(healthz_until(port, stop))
            await timed(seconds, [idle_task], stop)

            stop = asyncio.Event()
            closes_before = lane.seen("lane.link.closed")
            storm_task = asyncio.create_task(healthz_until(port, stop))
            logins = [asyncio.create_task(log_in_until(port, name, stop)) for name in names]
            await timed(seconds, [storm_task, *logins], stop)
            closes = lane.seen("lane.link.closed") - closes_before

    (idle, _), (storm, offline) = idle_task.result(), storm_task.result()
    statuses: dict[int, int] = {}
    for task in logins:
        for status, count in task.result().items():
            statuses[status] = statuses.get(status, 0) + count
    return {
        "clients": clients,
        "seconds": seconds,
        "healthz_idle_p50_ms": round(statistics.median(idle), 2),
        "healthz_idle_p99_ms": round(percentile(idle, 99), 2),
        "healthz_idle_max_ms": round(max(idle), 2),
        "healthz_storm_p50_ms": round(statistics.median(storm), 2),
        "healthz_storm_p99_ms": round(percentile(storm, 99), 2),
        "healthz_storm_max_ms": round(max(storm), 2),
        "healthz_storm_answers": len(storm),
        "healthz_idle_answers": len(idle),
        "logins_ok_per_s": round(statuses.get(200, 0) / seconds, 1),
        "logins_busy": statuses.get(503, 0),
        "logins_other": sum(n for s, n in statuses.items() if s not in (200, 503)),
        "lane_link_closes": closes,
        "healthz_storm_lane_offline": offline,
    }


async def start_lane(running: Centre) -> Process:
    env = {**running.env, "SEAT_LANE_TOKEN": running.tokens[LANE], "SEAT_LOG_LEVEL": "WARNING"}
    args = ["console.cli", "lane", "--server", running.url, "--lane", LANE]
    args += ["--camera", "none", "--heartbeat-ms", "1000"]
    running.lanes.append(await Process.start(f"lane {LANE}", args, env))
    await running.wait_online(1)
    return running.lanes[-1]


def report(r: dict[str, Any]) -> list[str]:
    def vs_idle(name: str) -> str:
        storm, idle = r[f"healthz_storm_{name}_ms"], r[f"healthz_idle_{name}_ms"]
        return f"healthz_{name}_login_storm: {storm} ms ({storm / idle:.1f}x idle {idle} ms)"

    return [
        f"healthz_answers_login_storm: {r['healthz_storm_answers']} in {r['seconds']} s "
        f"({r['healthz_storm_answers'] / r['healthz_idle_answers']:.3f}x idle "
        f"{r['healthz_idle_answers']})",
        vs_idle("p50"),
        vs_idle("p99"),
        vs_idle("max"),
        f"logins_ok_login_storm: {r['logins_ok_per_s']} /s "
        f"({r['clients']} clients, {r['logins_busy']} refused 503 busy, "
        f"{r['logins_other']} other)",
        f"lane_link_closes_login_storm: {r['lane_link_closes']} (0 expected; /healthz "
        f"showed the lane offline {r['healthz_storm_lane_offline']} times)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=24, help="storm clients, one account each")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each phase")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    measure_and_print(lambda: bench(args.clients, args.seconds), report, as_json=args.json)


if __name__ == "__main__":
    main()
