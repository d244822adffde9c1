"""The centre's plate work per car, measured in process (no server, no sockets).

- **Matching** (``console/stays/match.py``): 100,000 open stays in 20 car parks of one
  city, all of them home to 粤B (the crowded case: most plates share their first two
  characters), 30 % new energy, entered over the last three days. 1,000 exit reads, each
  a misread (``gates.plates.misread``: a look-alike, a dropped or a doubled character) of
  an open stay's plate, read at that stay's car park, are ranked by ``StayIndex.match``
  (the best 5); the first 40 also by ``scan``, the plain scan of every stay, which must
  give the same list (checked, or the benchmark fails). Each query is timed by the wall
  clock and by the thread's CPU clock: the machine is shared, and the CPU time is the
  cost without the waits for a core.

Each figure is printed as ``name: value unit (ratio vs baseline)``; ``--json`` ends with
one JSON object of every figure. More measures join ``MEASURES``.

- **Crops** (``media/plates/``): ``bench/plate_crops.py``'s figures, its docstring says how.
- **OCR** (``media/plates/ocr.py``): ``bench/plate_ocr.py``'s figures, ``ocr_ms_p99`` the
  second reading of an enhanced crop; its docstring says how.

    python bench/plates.py [--stays 100000] [--reads 1000] [--naive-reads 40]
                           [--crop-runs 400] [--ocr-runs 60] [--json]
"""

from __future__ import annotations

import argparse
import random
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from functools import partial
from pathlib import Path

# Run as a script, this file's directory is first on sys.path: the repository root goes
# before it, so ``bench`` is the package.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench.figures import Figures, measure_and_print
from bench.gate_latency import percentile
from bench.plate_crops import plate_crop_figures
from bench.plate_crops import report as report_crops
from bench.plate_ocr import plate_ocr_figures
from bench.plate_ocr import report as report_ocr
from console.stays.match import OpenStay, StayIndex, scan
from gates.plates import misread, random_plate

CAR_PARKS = 20
HOME = "粤B"
NEW_ENERGY_SHARE = 0.3
STAYS_OVER_S = 3 * 86_400
LIMIT = 5
MATCH_P99_TARGET_MS = 5.0
MATCH_RATIO_TARGET = 20.0
NOW = datetime(2026, 11, 29, 9, 30, tzinfo=UTC)


def _timed(work: Callable[[], object]) -> tuple[object, float, float]:
    """``work()``'s result, and its wall and CPU time in ms."""
    wall, cpu = time.perf_counter(), time.thread_time()
    result = work()
    return result, (time.perf_counter() - wall) * 1e3, (time.thread_time() - cpu) * 1e3


def measure_matching(args: argparse.Namespace) -> Figures:
    rng = random.Random(2026)
    car_parks = [f"car-park-{n:02d}" for n in range(CAR_PARKS)]
    stays = [
        OpenStay(
            n,
            random_plate(rng, new_energy=rng.random() < NEW_ENERGY_SHARE, home=HOME),
            rng.choice(car_parks),
            NOW - timedelta(seconds=rng.uniform(0, STAYS_OVER_S)),
        )
        for n in range(args.stays)
    ]
    index = StayIndex()

    def build() -> None:
        for stay in stays:
            index.add(stay)

    _, build_ms, _ = _timed(build)
    reads = [(misread(s.plate, rng), s.car_park) for s in rng.choices(stays, k=args.reads)]

    wall: list[float] = []
    cpu: list[float] = []
    answers = []
    for plate, car_park in reads:
        answer, w, c = _timed(partial(index.match, plate, car_park, NOW, LIMIT))
        answers.append(answer)
        wall.append(w)
        cpu.append(c)
    naive_wall: list[float] = []
    naive_cpu: list[float] = []
    for n, (plate, car_park) in enumerate(reads[: args.naive_reads]):
        answer, w, c = _timed(partial(scan, stays, plate, car_park, NOW, LIMIT))
        if answer != answers[n]:
            raise SystemExit(f"the index and the scan disagree on {plate!r}: not measured")
        naive_wall.append(w)
        naive_cpu.append(c)
    return {
        "match_stays": args.stays,
        "match_reads": args.reads,
        "match_naive_reads": args.naive_reads,
        "match_index_build_ms": round(build_ms),
        "match_ms_p50": round(percentile(wall, 50), 3),
        "match_ms_p99": round(percentile(wall, 99), 3),
        "match_cpu_ms_p99": round(percentile(cpu, 99), 3),
        "match_naive_ms_p99": round(percentile(naive_wall, 99), 1),
        "match_naive_cpu_ms_p99": round(percentile(naive_cpu, 99), 1),
        "match_ratio": round(percentile(naive_wall, 99) / percentile(wall, 99), 1),
        "match_cpu_ratio": round(percentile(naive_cpu, 99) / percentile(cpu, 99), 1),
    }


def report_matching(f: Figures) -> list[str]:
    target = MATCH_P99_TARGET_MS
    return [
        f"match_ms_p99: {f['match_ms_p99']} ms "
        f"({round(f['match_ms_p99'] / target, 2)}x the {target} ms target; "
        f"p50 {f['match_ms_p50']} ms; {f['match_stays']} open stays, {f['match_reads']} reads)",
        f"match_cpu_ms_p99: {f['match_cpu_ms_p99']} ms "
        f"({round(f['match_cpu_ms_p99'] / target, 2)}x the {target} ms target)",
        f"match_naive_ms_p99: {f['match_naive_ms_p99']} ms "
        f"({f['match_ratio']}x the index; scan of every stay, {f['match_naive_reads']} reads)",
        f"match_naive_cpu_ms_p99: {f['match_naive_cpu_ms_p99']} ms "
        f"({f['match_cpu_ratio']}x the index)",
        f"match_ratio: {f['match_ratio']}x "
        f"({round(f['match_ratio'] / MATCH_RATIO_TARGET, 1)}x the {MATCH_RATIO_TARGET:g}x target)",
        f"match_index_build_ms: {f['match_index_build_ms']} ms "
        f"({round(f['match_index_build_ms'] * 1e3 / f['match_stays'], 1)} µs a stay)",
    ]


Measure = Callable[[argparse.Namespace], Figures]
Report = Callable[[Figures], list[str]]
# Each measure and the lines it prints, run in order.
MEASURES: tuple[tuple[Measure, Report], ...] = (
    (measure_matching, report_matching),
    (lambda args: plate_crop_figures(args.crop_runs), report_crops),
    (lambda args: plate_ocr_figures(args.ocr_runs), report_ocr),
)


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--stays", type=int, default=100_000)
    parser.add_argument("--reads", type=int, default=1000)
    parser.add_argument("--naive-reads", type=int, default=40)
    parser.add_argument("--crop-runs", type=int, default=400, help="timed crops of each kind")
    parser.add_argument("--ocr-runs", type=int, default=60, help="timed OCR reads")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    async def measure() -> Figures:
        figures: Figures = {}
        for run, _ in MEASURES:
            figures.update(run(args))
        return figures

    def report(figures: Figures) -> list[str]:
        return [line for _, lines in MEASURES for line in lines(figures)]

    measure_and_print(measure, report, as_json=args.json)


if __name__ == "__main__":
    main()
