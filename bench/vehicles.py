"""Recording vehicle events, measured in process: the real store on this machine's disk,
the real snapshot files, no sockets.

``--events`` reads (default 2,000), each a distinct plate with a rendered 640x360 LPR
snapshot (``gates.lane.snapshot``), half at an entry lane and half at the exit lane of
one car park (so each exit closes a stay), are recorded one after another by
``VehicleRecorder.record``, as its one task does: the snapshot written and fsynced (file
and directory), then the row and the stay change committed (another fsync). Each event's
wall time is taken; the rate is what one centre's recording can keep up with.

The baseline: a city of 500 lanes at rush hour, a car every 20 s at each, is 25 events a
second.

    python bench/vehicles.py [--events 2000] [--json]
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figures, measure_and_print
from bench.gate_latency import percentile
from console.directory import Directory
from console.models import Direction, LaneRecord
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from console.vehicles.recorder import VehicleRecorder
from gates.centre.hub import LaneHub
from gates.lane.snapshot import render
from gates.protocol import Vehicle
from gates.vocabulary import PlateColour

BASELINE_PER_S = 500 / 20
T0 = datetime(2026, 11, 29, 8, 0, tzinfo=UTC)
LANES = (("B-IN", Direction.ENTRY), ("B-OUT", Direction.EXIT))


def reads(count: int) -> list[tuple[str, Vehicle]]:
    """Each plate in at the entry, then out at the exit: ``count`` reads in all."""
    jpeg = render("粤B12345", PlateColour.BLUE, gate_angle=0.0, at=T0, seed=1, size=(640, 360))
    made: list[tuple[str, Vehicle]] = []
    for n in range(count):
        lane, _ = LANES[n % 2]
        made.append(
            (
                lane,
                Vehicle(
                    event_id=f"ev{n:07d}",
                    at=T0 + timedelta(seconds=n),
                    plate=f"粤B{n // 2:05d}",
                    plate_colour=PlateColour.BLUE,
                    confidence=0.95,
                    box=jpeg.box,
                    snapshot=jpeg.jpeg,
                ),
            )
        )
    return made


async def measure_recording(args: argparse.Namespace) -> Figures:
    with tempfile.TemporaryDirectory(dir=args.dir) as data:
        settings = Settings(data_dir=Path(data))
        store = await SQLiteStore.open(settings.database)
        try:
            for lane_id, direction in LANES:
                await store.put_lane(LaneRecord(lane_id, lane_id, "人民路", direction, "x"))
            directory = Directory(store)
            await directory.load()

            async def verify(lane_id: str, token: str) -> bool:
                return False

            recorder = VehicleRecorder(settings, store, directory, LaneHub(verify))
            todo = reads(args.events)
            each: list[float] = []
            started = time.perf_counter()
            for lane_id, message in todo:
                before = time.perf_counter()
                await recorder.record(lane_id, message)
                each.append((time.perf_counter() - before) * 1e3)
            total_s = time.perf_counter() - started
            if await store.open_stays():
                raise SystemExit("an exit did not close its stay: not measured")
        finally:
            await store.close()
    return {
        "vehicle_events": args.events,
        "vehicle_snapshot_bytes": len(todo[0][1].snapshot),
        "vehicle_events_per_s": round(args.events / total_s, 1),
        "vehicle_record_ms_p50": round(percentile(each, 50), 2),
        "vehicle_record_ms_p99": round(percentile(each, 99), 2),
    }


def report_recording(f: Figures) -> list[str]:
    return [
        f"vehicle_events_per_s: {f['vehicle_events_per_s']} events/s "
        f"({round(f['vehicle_events_per_s'] / BASELINE_PER_S, 1)}x the {BASELINE_PER_S:g}/s "
        f"of 500 lanes at rush hour; {f['vehicle_events']} events, "
        f"{f['vehicle_snapshot_bytes']} B snapshots)",
        f"vehicle_record_ms_p50: {f['vehicle_record_ms_p50']} ms "
        f"({round(f['vehicle_record_ms_p50'] * BASELINE_PER_S / 1e3, 2)}x one "
        f"{1e3 / BASELINE_PER_S:g} ms slot)",
        f"vehicle_record_ms_p99: {f['vehicle_record_ms_p99']} ms "
        f"({round(f['vehicle_record_ms_p99'] * BASELINE_PER_S / 1e3, 2)}x one "
        f"{1e3 / BASELINE_PER_S:g} ms slot)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--events", type=int, default=2000)
    parser.add_argument("--dir", default=None, help="where the temporary data dir goes")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    async def measure() -> Figures:
        return await measure_recording(args)

    measure_and_print(measure, report_recording, as_json=args.json)


if __name__ == "__main__":
    main()
