"""A password-guessing storm against a centre of two servers is throttled as one.

``--guessers`` clients send wrong passwords for one account from one address as fast
as they are answered, never waiting out Retry-After, for ``--seconds``: first against
one ``seat serve`` (the throttle's counts in its memory, the baseline), then spread
evenly over two ``seat serve`` of one centre sharing one store and one Redis (the
counts in Redis). Within the window the pair's five free attempts are all a guesser
gets (the lock that follows lasts 30 s), so the figure to hold is the passwords
checked: the same with two servers as with one, not twice as many. Also printed: how
fast the refusals (429) come back, which with two servers is a Redis round trip or
two, and how many answers were anything else.

    python -m bench.guess_storm --guessers 32 --seconds 10
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
from collections import Counter
from pathlib import Path
from typing import Any

from bench.figures import measure_and_print
from bench.gate_latency import HttpConnection, free_port, percentile
from bench.login_storm import add_accounts, timed
from bench.processes import Centre, Process, centre
from tests.services import RedisServer

TARGET = "target"
GUESS = json.dumps({"username": TARGET, "password": "not the password"}).encode()


async def guess_until(port: int, stop: asyncio.Event) -> tuple[Counter[int], list[float]]:
    """Wrong passwords on one keep-alive connection until ``stop``: each status's count
    and the ms of each refusal."""
    statuses: Counter[int] = Counter()
    refused_ms: list[float] = []
    connection = await HttpConnection.open(port)
    try:
        while not stop.is_set():
            started = time.perf_counter()
            status, _, _ = await connection.request(
                "POST", "/api/login", GUESS, {"content-type": "application/json"}
            )
            statuses[status] += 1
            if status == 429:
                refused_ms.append((time.perf_counter() - started) * 1000)
    finally:
        connection.close()
    return statuses, refused_ms


async def storm(ports: list[int], guessers: int, seconds: float) -> dict[str, Any]:
    stop = asyncio.Event()
    tasks = [asyncio.create_task(guess_until(ports[n % len(ports)], stop)) for n in range(guessers)]
    await timed(seconds, list(tasks), stop)
    statuses: Counter[int] = Counter()
    refused_ms: list[float] = []
    for task in tasks:
        counted, ms = task.result()
        statuses.update(counted)
        refused_ms += ms
    return {
        "checked": statuses[401],
        "refused": statuses[429],
        "other": sum(n for s, n in statuses.items() if s not in (401, 429)),
        "refused_p50_ms": round(statistics.median(refused_ms), 2),
        "refused_p99_ms": round(percentile(refused_ms, 99), 2),
    }


async def second_server(first: Centre) -> tuple[Process, int]:
    """Another ``seat serve`` on the first's store and Redis, and its port."""
    port = free_port()
    env = {**first.env, "SEAT_PORT": str(port)}
    process = await Process.start("seat serve (2)", ["console.cli", "serve"], env)
    await Centre(f"http://127.0.0.1:{port}", env, process, {}).wait_online(0)
    return process, port


async def bench(guessers: int, seconds: float) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seat-guess-storm-") as tmp:
        one_dir, two_dir = Path(tmp, "one"), Path(tmp, "two")
        async with centre(one_dir, []) as running:
            await add_accounts(one_dir, [TARGET])
            one = await storm([_port(running.url)], guessers, seconds)
        redis = RedisServer()
        redis.start()
        try:
            async with centre(two_dir, [], env={"SEAT_REDIS_URL": redis.url}) as running:
                await add_accounts(two_dir, [TARGET])
                other, port = await second_server(running)
                try:
                    two = await storm([_port(running.url), port], guessers, seconds)
                finally:
                    await other.stop()
        finally:
            redis.close()
    return {
        "guessers": guessers,
        "seconds": seconds,
        **{f"one_{k}": v for k, v in one.items()},
        **{f"two_{k}": v for k, v in two.items()},
    }


def _port(url: str) -> int:
    return int(url.rsplit(":", 1)[1])


def report(r: dict[str, Any]) -> list[str]:
    return [
        f"passwords_checked_two_servers: {r['two_checked']} "
        f"({r['two_checked'] / max(r['one_checked'], 1):.1f}x one server's {r['one_checked']}; "
        f"{r['guessers']} guessers, {r['seconds']} s)",
        f"refusals_two_servers: {r['two_refused']} "
        f"({r['two_refused'] / max(r['one_refused'], 1):.2f}x one server's {r['one_refused']})",
        f"refusal_p50_two_servers: {r['two_refused_p50_ms']} ms "
        f"({r['two_refused_p50_ms'] / r['one_refused_p50_ms']:.1f}x one server's "
        f"{r['one_refused_p50_ms']} ms)",
        f"refusal_p99_two_servers: {r['two_refused_p99_ms']} ms "
        f"({r['two_refused_p99_ms'] / r['one_refused_p99_ms']:.1f}x one server's "
        f"{r['one_refused_p99_ms']} ms)",
        f"other_answers: {r['two_other']} two servers, {r['one_other']} one (0 expected)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--guessers", type=int, default=32, help="clients guessing at once")
    parser.add_argument("--seconds", type=float, default=10.0, help="length of each storm")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()
    measure_and_print(lambda: bench(args.guessers, args.seconds), report, as_json=args.json)


if __name__ == "__main__":
    main()
