"""Remote gate latency, measured end to end against its physical floor.

Starts the real centre (``seat serve``) and N real lane agents with the simulated driver
(mechanical lift time zero, so the figure is the software path) in another process,
logs in as an agent and sends open-gate commands over the HTTP API, K in flight, timing
each from request to its ``done`` outcome.

The floor is measured in the same run: one bare ``websockets`` echo round trip on
loopback to another process plus one durable SQLite commit (WAL, synchronous=FULL) of a
row of the same size: the least any durable remote command can cost. The machine is
shared and noisy, so read the ratio, not the absolute times.

    python bench/gate_latency.py --lanes 200 --commands 2000 --concurrency 1
    python bench/gate_latency.py --lanes 200 --commands 4000 --concurrency 20
    python bench/gate_latency.py --lanes 2000 --commands 0      # heartbeat CPU only
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import socket
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import measure_and_print
from console.auth import hash_password, new_token, token_hash
from console.models import Direction, LaneRecord, Role
from console.service import run_fast
from console.sqlite_store import SQLiteStore
from console.store import Store

HERE = Path(__file__).resolve().parent
PASSWORD = "bench-password-0"
ROW_BYTES = 400  # about what an open-gate request entry weighs in the ledger
THROUGHPUT_TARGET = 500  # commands/s with 20 in flight
CPU_BUDGET_PCT = 25  # of one core, for 2000 idle lanes


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def percentile(values: Sequence[float], p: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(p / 100 * (len(ordered) - 1)))]


def cpu_seconds(pid: int) -> float:
    """User + system CPU time of ``pid`` from /proc (Linux)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK")


# ------------------------------------------------------------------ a lean HTTP client


class HttpConnection:
    """One keep-alive HTTP/1.1 connection; small on purpose so the client's own cost
    does not hide the centre's in the figures."""

    def __init__(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        self.reader = reader
        self.writer = writer

    @classmethod
    async def open(cls, port: int) -> HttpConnection:
        reader, writer = await asyncio.open_connection("127.0.0.1", port)
        return cls(reader, writer)

    async def request(
        self, method: str, path: str, body: bytes, headers: dict[str, str]
    ) -> tuple[int, dict[str, str], bytes]:
        head = f"{method} {path} HTTP/1.1\r\nhost: 127.0.0.1\r\ncontent-length: {len(body)}\r\n"
        head += "".join(f"{k}: {v}\r\n" for k, v in headers.items())
        self.writer.write(head.encode() + b"\r\n" + body)
        status_line = await self.reader.readline()
        status = int(status_line.split()[1])
        received: dict[str, str] = {}
        while (line := await self.reader.readline()) not in (b"\r\n", b""):
            name, _, value = line.decode().partition(":")
            received[name.strip().lower()] = value.strip()
        payload = await self.reader.readexactly(int(received.get("content-length", "0")))
        return status, received, payload

    def close(self) -> None:
        self.writer.close()


# ------------------------------------------------------------------ set-up


async def seed(data_dir: Path, lanes: int) -> dict[str, str]:
    store = await SQLiteStore.open(data_dir / "seat.db")
    try:
        return await seed_store(store, lanes)
    finally:
        await store.close()


async def seed_store(store: Store, lanes: int) -> dict[str, str]:
    """The bench agent and ``lanes`` lanes; their tokens. The lanes are added a hundred
    at a time, so the store's writer commits each hundred as one batch."""
    await store.add_user("bench", Role.AGENT, hash_password(PASSWORD), datetime.now(UTC))
    tokens = {f"B{n:04d}": new_token() for n in range(lanes)}
    records = [
        LaneRecord(lane, lane, "bench", Direction.EXIT, token_hash(token))
        for lane, token in tokens.items()
    ]
    for start in range(0, len(records), 100):
        await asyncio.gather(*(store.put_lane(r) for r in records[start : start + 100]))
    return tokens


async def wait_online(port: int, lanes: int, process: subprocess.Popen[bytes]) -> None:
    """Poll /healthz until every lane is connected (a harness waiting on other processes)."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise SystemExit("the centre exited during start-up")
        try:
            connection = await HttpConnection.open(port)
            status, _, body = await connection.request("GET", "/healthz", b"", {})
            connection.close()
            if status == 200 and json.loads(body)["lanes_online"] >= lanes:
                return
        except OSError:
            pass
        await asyncio.sleep(0.2)
    raise SystemExit(f"not all {lanes} lanes came online")


async def login(port: int) -> dict[str, str]:
    connection = await HttpConnection.open(port)
    body = json.dumps({"username": "bench", "password": PASSWORD}).encode()
    status, headers, payload = await connection.request(
        "POST", "/api/login", body, {"content-type": "application/json"}
    )
    connection.close()
    if status != 200:
        raise SystemExit(f"login failed: {status} {payload!r}")
    cookie = headers["set-cookie"].split(";", 1)[0]
    return {
        "cookie": cookie,
        "x-csrf-token": json.loads(payload)["csrf_token"],
        "content-type": "application/json",
    }


# ------------------------------------------------------------------ the measurements


async def run_commands(
    port: int, lane_ids: list[str], commands: int, concurrency: int, headers: dict[str, str]
) -> tuple[list[float], dict[str, int], float]:
    """Send ``commands`` opens, ``concurrency`` at a time; latencies in ms, outcomes."""
    rng = random.Random(1)
    targets = [rng.choice(lane_ids) for _ in range(commands)]
    latencies: list[float] = []
    outcomes: dict[str, int] = {}
    body = json.dumps({"reason": "equipment_fault", "note": "bench"}).encode()
    queue: asyncio.Queue[str] = asyncio.Queue()
    for lane in targets:
        queue.put_nowait(lane)

    async def worker() -> None:
        connection = await HttpConnection.open(port)
        try:
            while not queue.empty():
                lane = queue.get_nowait()
                started = time.perf_counter()
                status, _, payload = await connection.request(
                    "POST", f"/api/lanes/{lane}/open", body, headers
                )
                latencies.append((time.perf_counter() - started) * 1000)
                outcome = json.loads(payload).get("outcome", f"http_{status}")
                outcomes[outcome] = outcomes.get(outcome, 0) + 1
        finally:
            connection.close()

    started = time.perf_counter()
    await asyncio.gather(*(worker() for _ in range(concurrency)))
    return latencies, outcomes, time.perf_counter() - started


async def measure_floor(samples: int, data_dir: Path) -> list[float]:
    """Echo round trip to another process plus one durable commit, sequentially."""
    port = free_port()
    echo = subprocess.Popen([sys.executable, __file__, "--echo-server", str(port)])
    db = sqlite3.connect(data_dir / "floor.db", isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("CREATE TABLE t (id INTEGER PRIMARY KEY, body TEXT)")
    payload = "x" * ROW_BYTES
    message = json.dumps({"type": "open_gate", "command_id": "0" * 32, "reason": "x"})
    try:
        for _ in range(100):  # the echo process is starting: retry until it listens
            try:
                ws = await connect(f"ws://127.0.0.1:{port}/", compression=None)
                break
            except OSError:
                await asyncio.sleep(0.1)
        async with ws:
            times = []
            for _ in range(samples):
                started = time.perf_counter()
                await ws.send(message)
                await ws.recv()
                db.execute("BEGIN")
                db.execute("INSERT INTO t (body) VALUES (?)", (payload,))
                db.execute("COMMIT")
                times.append((time.perf_counter() - started) * 1000)
            return times
    finally:
        echo.terminate()
        echo.wait()
        db.close()


async def echo_server(port: int) -> None:
    async def echo(ws: Any) -> None:
        async for message in ws:
            await ws.send(message)

    async with serve(echo, "127.0.0.1", port, compression=None):
        await asyncio.get_running_loop().create_future()


async def bench(args: argparse.Namespace) -> dict[str, Any]:
    with tempfile.TemporaryDirectory(prefix="seat-bench-") as tmp:
        data_dir = Path(tmp)
        tokens = await seed(data_dir, args.lanes)
        (data_dir / "lanes.json").write_text(json.dumps(tokens))
        port = free_port()
        env = {
            **os.environ,
            "SEAT_DATA_DIR": str(data_dir),
            "SEAT_PORT": str(port),
            "SEAT_LOG_LEVEL": "WARNING",
        }
        server = subprocess.Popen([sys.executable, "-m", "console.cli", "serve"], env=env)
        lanes = subprocess.Popen(
            [sys.executable, str(HERE / "lane_fleet.py"), f"http://127.0.0.1:{port}",
             str(data_dir / "lanes.json")],
            env=env, stdin=subprocess.PIPE, stdout=subprocess.PIPE,
        )  # fmt: skip
        try:
            await wait_online(port, args.lanes, server)
            result: dict[str, Any] = {"lanes": args.lanes, "commands": args.commands}
            if args.commands:
                headers = await login(port)
                floor = await measure_floor(max(200, min(args.commands, 2000)), data_dir)
                cpu_before = cpu_seconds(server.pid)
                latencies, outcomes, wall = await run_commands(
                    port, list(tokens), args.commands, args.concurrency, headers
                )
                cpu = cpu_seconds(server.pid) - cpu_before
                result.update(
                    concurrency=args.concurrency,
                    p50_ms=round(statistics.median(latencies), 3),
                    p99_ms=round(percentile(latencies, 99), 3),
                    floor_p50_ms=round(statistics.median(floor), 3),
                    floor_p99_ms=round(percentile(floor, 99), 3),
                    throughput_cps=round(len(latencies) / wall, 1),
                    outcomes=outcomes,
                    server_cpu_pct=round(100 * cpu / wall, 1),
                )
                result["ratio_p50"] = round(result["p50_ms"] / result["floor_p50_ms"], 2)
                result["ratio_p99"] = round(result["p99_ms"] / result["floor_p99_ms"], 2)
            else:
                cpu_before = cpu_seconds(server.pid)
                started = time.perf_counter()
                await asyncio.sleep(args.idle_s)  # the measurement window itself
                wall = time.perf_counter() - started
                result["server_cpu_pct"] = round(
                    100 * (cpu_seconds(server.pid) - cpu_before) / wall, 1
                )
            # The fleet reports how often each lane's gate really lifted.
            stdout, _ = lanes.communicate(b"report\n", timeout=60)
            opens = json.loads(stdout.decode().strip().splitlines()[-1])["opens"]
            done = result.get("outcomes", {}).get("done", 0)
            # Every done command lifted at least once; more lifts than that are repeats.
            result["executed"] = opens
            result["executed_twice"] = max(0, opens - done)
            result["lost"] = args.commands - done
            return result
        finally:
            for process in (lanes, server):
                if process.poll() is None:
                    process.terminate()
                    process.wait()


def report(result: dict[str, Any]) -> list[str]:
    """One line per figure: ``name: value unit (ratio vs baseline)``. Latency is
    compared with the floor measured in the same run; throughput and CPU with the
    targets they are held to."""
    r = result
    lines = []
    if "p50_ms" in r:
        k = r["concurrency"]
        throughput_ratio = round(r["throughput_cps"] / THROUGHPUT_TARGET, 2)
        lines += [
            f"gate_p50_c{k}: {r['p50_ms']} ms ({r['ratio_p50']}x floor {r['floor_p50_ms']} ms)",
            f"gate_p99_c{k}: {r['p99_ms']} ms ({r['ratio_p99']}x floor {r['floor_p99_ms']} ms)",
            f"throughput_c{k}: {r['throughput_cps']} commands/s "
            f"({throughput_ratio}x target {THROUGHPUT_TARGET})",
            f"lost_c{k}: {r['lost']} commands (executed twice: {r['executed_twice']})",
        ]
        lines.append(
            f"server_cpu_c{k}: {r['server_cpu_pct']} % of a core "
            f"({round(r['server_cpu_pct'] / r['throughput_cps'] * 10, 3)} ms per command)"
        )
    else:
        cpu_ratio = round(r["server_cpu_pct"] / CPU_BUDGET_PCT, 2)
        lines.append(
            f"server_cpu_{r['lanes']}_idle_lanes: {r['server_cpu_pct']} % of a core "
            f"({cpu_ratio}x budget {CPU_BUDGET_PCT} %)"
        )
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--lanes", type=int, default=200)
    parser.add_argument("--commands", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=1)
    parser.add_argument("--idle-s", type=float, default=20.0, help="window for --commands 0")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    parser.add_argument("--echo-server", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.echo_server:
        run_fast(echo_server(args.echo_server))
        return
    measure_and_print(lambda: bench(args), report, as_json=args.json)


if __name__ == "__main__":
    main()
