"""Ledger appends on the PostgreSQL store beside the SQLite store, in process: the real
stores, each durable (SQLite: WAL, synchronous=FULL; PostgreSQL: a server of the
benchmark's own on this machine's disk, fsync and synchronous_commit on).

For each store: ``--appends`` appends one after another (latency: each waits for its
commit, so each is a batch of one), then as many again ``--concurrency`` at a time
(throughput: the writer group-commits what is queued). For PostgreSQL also two stores
on one database, as two centres are, appending at once: the advisory lock serialises
their batches. The baseline is the SQLite store, today's single-server centre; the
floor, one autocommitted one-row INSERT on the same server: what any durable write to
it costs.

    python bench/ledger_stores.py [--appends 2000] [--concurrency 64] [--json]
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
from pathlib import Path

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import psycopg

from bench.figures import Figures, measure_and_print
from console.chain_check import Verdict, verify_audit
from console.ledger import AuditAction, AuditRecord
from console.pg_store import PostgresStore
from console.sqlite_store import SQLiteStore
from console.store import Store
from tests.services import PostgresServer


def _record(n: int) -> AuditRecord:
    return AuditRecord(
        actor="zhang",
        action=AuditAction.GATE_OPEN_REQUESTED,
        lane="P01-exit-1",
        command_id=f"c-{n}",
        reason="paid_not_lifted",
        detail={"n": n, "remote": "10.0.0.7"},
    )


async def _sequential(store: Store, count: int, start: int) -> list[float]:
    times = []
    for n in range(start, start + count):
        began = time.perf_counter()
        await store.append(_record(n))
        times.append(time.perf_counter() - began)
    return times


async def _concurrent(stores: list[Store], count: int, concurrency: int, start: int) -> float:
    """Appends per second with ``concurrency`` in flight, spread over ``stores``."""
    numbers = iter(range(start, start + count))

    async def worker(store: Store) -> None:
        for n in numbers:
            await store.append(_record(n))

    began = time.perf_counter()
    await asyncio.gather(*(worker(stores[i % len(stores)]) for i in range(concurrency)))
    return count / (time.perf_counter() - began)


def _p(times: list[float], q: float) -> float:
    return round(statistics.quantiles(times, n=100)[int(q) - 1] * 1e3, 3)


async def _measure_store(name: str, stores: list[Store], args: argparse.Namespace) -> Figures:
    latency = await _sequential(stores[0], args.appends, 0)
    rate = await _concurrent(stores[:1], args.appends, args.concurrency, args.appends)
    figures: Figures = {
        f"{name}_append_ms_p50": _p(latency, 50),
        f"{name}_append_ms_p99": _p(latency, 99),
        f"{name}_appends_per_s": round(rate),
    }
    if len(stores) > 1:
        shared = await _concurrent(stores, args.appends, args.concurrency, 2 * args.appends)
        figures[f"{name}_two_stores_appends_per_s"] = round(shared)
    total = (3 if len(stores) > 1 else 2) * args.appends
    if await verify_audit(stores[0]) != Verdict(ok=True, count=total):
        raise SystemExit(f"{name}: the ledger does not verify after the run")
    return figures


async def measure(args: argparse.Namespace, directory: Path, url: str) -> Figures:
    figures: Figures = {"appends": args.appends, "concurrency": args.concurrency}
    sqlite = await SQLiteStore.open(directory / "seat.db")
    try:
        figures.update(await _measure_store("sqlite", [sqlite], args))
    finally:
        await sqlite.close()
    stores: list[Store] = [await PostgresStore.open(url), await PostgresStore.open(url)]
    try:
        figures.update(await _measure_store("postgresql", stores, args))
    finally:
        for store in stores:
            await store.close()
    return figures


def commit_floor(url: str, count: int) -> float:
    """The median durable commit of one small row on the server, in ms."""
    with psycopg.connect(url, autocommit=True) as conn:
        conn.execute("CREATE TABLE floor (n BIGINT, note TEXT)")
        times = []
        for n in range(count):
            began = time.perf_counter()
            conn.execute("INSERT INTO floor VALUES (%s, 'x')", (n,))
            times.append(time.perf_counter() - began)
    return _p(times, 50)


def run(args: argparse.Namespace) -> None:
    server = PostgresServer(durable=True)
    server.start()
    try:
        with tempfile.TemporaryDirectory(prefix="seat-bench-") as scratch:
            url = server.create_database("bench")
            floor = commit_floor(server.create_database("floor"), args.appends)

            async def figures() -> Figures:
                return {**await measure(args, Path(scratch), url), "postgresql_floor_ms": floor}

            measure_and_print(figures, report, as_json=args.json)
    finally:
        server.close()


def report(f: Figures) -> list[str]:
    def vs(name: str, unit: str, lower_is_better: bool) -> str:
        value, base = f[f"postgresql_{name}"], f[f"sqlite_{name}"]
        ratio = round(value / base, 2) if base else float("inf")
        better = "" if not lower_is_better else " (lower is better)"
        return f"postgresql_{name}: {value} {unit} ({ratio}x sqlite's {base}{better})"

    shared = f["postgresql_two_stores_appends_per_s"]
    return [
        f"sqlite_append_ms_p50: {f['sqlite_append_ms_p50']} ms (1.0x, the baseline)",
        vs("append_ms_p50", "ms", True),
        f"postgresql_commit_floor_ms_p50: {f['postgresql_floor_ms']} ms (the append's"
        f" p50 is {round(f['postgresql_append_ms_p50'] / f['postgresql_floor_ms'], 2)}x it)",
        f"sqlite_append_ms_p99: {f['sqlite_append_ms_p99']} ms (1.0x, the baseline)",
        vs("append_ms_p99", "ms", True),
        f"sqlite_appends_per_s: {f['sqlite_appends_per_s']} appends/s (1.0x, the baseline;"
        f" {f['concurrency']} in flight)",
        vs("appends_per_s", "appends/s", False),
        f"postgresql_two_stores_appends_per_s: {shared} appends/s"
        f" ({round(shared / f['sqlite_appends_per_s'], 2)}x sqlite's; two stores on one"
        " database, one chain)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--appends", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=64)
    parser.add_argument("--json", action="store_true")
    run(parser.parse_args())


if __name__ == "__main__":
    main()
