"""What a readable plate crop costs per vehicle event, against decoding its snapshot.

The snapshots are the simulator's (``gates.lane.snapshot.render``) at 1920x1080, four
plate colours by eight cars, day and night, decoded once beforehand. The figures:

* **crop** (``crop_ms``): ``media.plates.readable.readable`` with the camera's box: cut,
  scaled to the readable height, levelled, CLAHE and unsharp mask. Target: 10 ms at p99,
  so it can run on every event.
* **locate** (``locate_ms``): the same without a box, finding the plate first.
* **decode** (``decode_ms``), the baseline: ``cv2.imdecode`` of the same JPEG, which
  anything that looks at the snapshot pays before the crop.
* **located**: the share of snapshots whose found box overlaps the true one by an IoU of
  0.7 or more (outside the timing).

Times are wall-clock, one call at a time on one thread; the machine is shared and noisy,
so ``*_cpu_ms`` gives the process's CPU time for the same calls (OpenCV's worker threads
included). ``plate_crop_figures`` is the measuring, for other benchmarks to import.

    python bench/plate_crops.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Final

# Run as a script, this file's directory is first on sys.path and bench/media.py would
# shadow the ``media`` package: the repository root goes before it.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import cv2
import numpy as np

from bench.figures import Figures, measure_and_print
from bench.gate_latency import percentile
from gates.lane.snapshot import render
from gates.vocabulary import PlateColour
from media.plates.crop import Box, Image, overlap
from media.plates.locate import locate
from media.plates.readable import readable

TARGET_P99_MS: Final = 10.0
SIZE: Final = (1920, 1080)
PLATES: Final = {
    PlateColour.BLUE: "粤B12345",
    PlateColour.YELLOW: "粤B1234学",
    PlateColour.GREEN: "粤BD12345",
    PlateColour.WHITE: "京A1234警",
}
DAY: Final = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)
NIGHT: Final = datetime(2025, 6, 1, 14, 30, tzinfo=UTC)


def snapshots(cars: int = 8) -> list[tuple[bytes, Image, Box]]:
    """JPEG, decoded picture and plate box of ``cars`` snapshots per plate colour."""
    out = []
    for colour, plate in PLATES.items():
        for seed in range(cars):
            at = NIGHT if seed % 2 else DAY
            snap = render(plate, colour, gate_angle=0.0, at=at, seed=seed, size=SIZE)
            image = np.asarray(cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), 1), np.uint8)
            out.append((snap.jpeg, image, snap.box))
    return out


def timed(call: Callable[..., object], *args: object) -> tuple[float, float]:
    """Wall and process CPU milliseconds of one ``call(*args)``."""
    wall, cpu = time.perf_counter(), time.process_time()
    call(*args)
    return (time.perf_counter() - wall) * 1000, (time.process_time() - cpu) * 1000


def plate_crop_figures(runs: int = 400) -> Figures:
    """``runs`` timed calls of each of decode, crop and locate, cycling over the
    snapshots, and the share of them located; see the module's docstring."""
    shots = snapshots()
    for _, image, box in shots:  # warm up: OpenCV allocates its buffers on first use
        readable(image, box)
        readable(image)
    samples: dict[str, list[tuple[float, float]]] = {"decode": [], "crop": [], "locate": []}
    for i in range(runs):
        jpeg, image, box = shots[i % len(shots)]
        samples["decode"].append(timed(cv2.imdecode, np.frombuffer(jpeg, np.uint8), 1))
        samples["crop"].append(timed(readable, image, box))
        samples["locate"].append(timed(readable, image))
    found = [(locate(image), box) for _, image, box in shots]
    hits = sum(f is not None and overlap(f.box, box) >= 0.7 for f, box in found)
    figures: Figures = {"runs": runs, "snapshots": len(shots), "size": f"{SIZE[0]}x{SIZE[1]}"}
    for name, pairs in samples.items():
        wall = [w for w, _ in pairs]
        cpu = [c for _, c in pairs]
        figures[f"{name}_ms_p50"] = round(statistics.median(wall), 2)
        figures[f"{name}_ms_p99"] = round(percentile(wall, 99), 2)
        figures[f"{name}_cpu_ms_p50"] = round(statistics.median(cpu), 2)
        figures[f"{name}_cpu_ms_p99"] = round(percentile(cpu, 99), 2)
    figures["located_pct"] = round(100 * hits / len(shots), 1)
    figures["crop_target_met"] = figures["crop_ms_p99"] <= TARGET_P99_MS
    return figures


def report(r: Figures) -> list[str]:
    """One line per figure: ``name: value unit (ratio vs baseline)``."""

    def vs_decode(name: str, stat: str) -> str:
        value, base = r[f"{name}_ms_{stat}"], r[f"decode_ms_{stat}"]
        return f"{value / base:.2f}x decode {stat} {base} ms"

    met = "met" if r["crop_target_met"] else "NOT met"
    lines = [
        f"crop_ms_p99: {r['crop_ms_p99']} ms ({vs_decode('crop', 'p99')};"
        f" target <= {TARGET_P99_MS:g} ms: {met})",
        f"crop_ms_p50: {r['crop_ms_p50']} ms ({vs_decode('crop', 'p50')})",
        f"locate_ms_p99: {r['locate_ms_p99']} ms ({vs_decode('locate', 'p99')})",
        f"locate_ms_p50: {r['locate_ms_p50']} ms ({vs_decode('locate', 'p50')})",
    ]
    for name in ("crop", "locate", "decode"):
        wall, cpu = r[f"{name}_ms_p99"], r[f"{name}_cpu_ms_p99"]
        lines.append(f"{name}_cpu_ms_p99: {cpu} ms ({cpu / wall:.2f}x its wall-clock p99)")
    lines.append(
        f"decode_ms_p99: {r['decode_ms_p99']} ms (baseline: cv2.imdecode of a {r['size']}"
        f" snapshot; p50 {r['decode_ms_p50']} ms)"
    )
    lines.append(f"located_pct: {r['located_pct']} % (of {r['snapshots']} snapshots, IoU >= 0.7)")
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=400, help="timed calls of each kind")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    async def measure() -> Figures:
        return plate_crop_figures(args.runs)

    measure_and_print(measure, report, as_json=args.json)


if __name__ == "__main__":
    main()
