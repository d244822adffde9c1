"""What the OCR's second reading of a plate costs (``media.plates.ocr``), against making
the crop it reads.

The snapshots are the simulator's (``gates.lane.snapshot.render``) at 1920x1080: nine
plates of every colour a car park sees (blue, yellow, green, yellow-green, white), with
their Chinese characters, each by day and by night. Each is cut by its box and made
readable (``media.plates.readable``: 120 pixels high, ~290 wide) once beforehand. The
figures:

* **ocr** (``ocr_ms``): ``PlateReader.read`` of one enhanced crop, as the centre's OCR
  thread runs it (ONNX Runtime on one thread, ``SEAT_OCR_THREADS``' default): the
  detector, then the recogniser, then the text made a plate.
* **crop** (``ocr_crop_ms``), the baseline: making the crop it reads, from the decoded
  snapshot.
* **load** (``ocr_load_ms``): the model's loading, which the first read pays (once).
* **right** (``ocr_right_pct``): the share of crops read exactly as the plate drawn.

Times are wall-clock, one read at a time; ``ocr_cpu_ms`` is the process's CPU time for
the same reads (ONNX Runtime's threads included), as the machine is shared and noisy.

    python bench/plate_ocr.py [--runs N] [--json]
"""

from __future__ import annotations

import argparse
import statistics
import sys
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
from bench.plate_crops import timed
from gates.lane.snapshot import render
from gates.vocabulary import PlateColour
from media.plates.crop import Box, Image
from media.plates.ocr import PlateReader
from media.plates.readable import readable

SIZE: Final = (1920, 1080)
PLATES: Final = (
    ("粤B12345", PlateColour.BLUE),
    ("沪C8Q2Z7", PlateColour.BLUE),
    ("苏E5S61A", PlateColour.BLUE),
    ("京A1234学", PlateColour.YELLOW),
    ("鲁B8G4T0", PlateColour.YELLOW),
    ("粤BD12345", PlateColour.GREEN),
    ("川AF8K306", PlateColour.GREEN),
    ("浙A12345F", PlateColour.YELLOW_GREEN),
    ("京A1234警", PlateColour.WHITE),
)
DAY: Final = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)
NIGHT: Final = datetime(2025, 6, 1, 14, 30, tzinfo=UTC)


def crops() -> list[tuple[str, Image, Box, Image]]:
    """Each plate's text, decoded snapshot, box and enhanced crop, by day and by night."""
    out = []
    for seed, (plate, colour) in enumerate(PLATES):
        for at in (DAY, NIGHT):
            snap = render(plate, colour, gate_angle=0.0, at=at, seed=seed, size=SIZE)
            image = np.asarray(cv2.imdecode(np.frombuffer(snap.jpeg, np.uint8), 1), np.uint8)
            found = readable(image, snap.box)
            assert found is not None
            out.append((plate, image, snap.box, found.image))
    return out


def plate_ocr_figures(runs: int = 60) -> Figures:
    """The model loaded, then ``runs`` timed reads (and crops) cycling over the crops;
    see the module's docstring."""
    shots = crops()
    reader = PlateReader()
    load_ms, _ = timed(reader.read, shots[0][3])
    right = sum(reader.read(crop).plate == plate for plate, _, _, crop in shots)
    ocr: list[tuple[float, float]] = []
    crop_ms: list[float] = []
    for i in range(runs):
        _, image, box, crop = shots[i % len(shots)]
        crop_ms.append(timed(readable, image, box)[0])
        ocr.append(timed(reader.read, crop))
    wall = [w for w, _ in ocr]
    cpu = [c for _, c in ocr]
    height, width = shots[0][3].shape[:2]
    return {
        "ocr_runs": runs,
        "ocr_crops": len(shots),
        "ocr_crop_size": f"{width}x{height}",
        "ocr_ms_p50": round(statistics.median(wall), 1),
        "ocr_ms_p99": round(percentile(wall, 99), 1),
        "ocr_cpu_ms_p99": round(percentile(cpu, 99), 1),
        "ocr_crop_ms_p50": round(statistics.median(crop_ms), 2),
        "ocr_crop_ms_p99": round(percentile(crop_ms, 99), 2),
        "ocr_load_ms": round(load_ms),
        "ocr_right_pct": round(100 * right / len(shots), 1),
    }


def report(r: Figures) -> list[str]:
    """One line per figure: ``name: value unit (ratio vs baseline)``."""
    return [
        f"ocr_ms_p99: {r['ocr_ms_p99']} ms ({r['ocr_ms_p99'] / r['ocr_crop_ms_p99']:.0f}x the"
        f" crop it reads, p99 {r['ocr_crop_ms_p99']} ms; {r['ocr_runs']} reads of"
        f" {r['ocr_crop_size']} crops)",
        f"ocr_ms_p50: {r['ocr_ms_p50']} ms ({r['ocr_ms_p50'] / r['ocr_crop_ms_p50']:.0f}x the"
        f" crop it reads, p50 {r['ocr_crop_ms_p50']} ms)",
        f"ocr_cpu_ms_p99: {r['ocr_cpu_ms_p99']} ms"
        f" ({r['ocr_cpu_ms_p99'] / r['ocr_ms_p99']:.2f}x its wall-clock p99)",
        f"ocr_load_ms: {r['ocr_load_ms']} ms ({r['ocr_load_ms'] / r['ocr_ms_p50']:.0f}x a"
        " read; the first read pays it, once)",
        f"ocr_right_pct: {r['ocr_right_pct']} % (of {r['ocr_crops']} crops, read exactly)",
    ]


def main() -> None:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--runs", type=int, default=60, help="timed reads")
    parser.add_argument("--json", action="store_true", help="end with one JSON line")
    args = parser.parse_args()

    async def measure() -> Figures:
        return plate_ocr_figures(args.runs)

    measure_and_print(measure, report, as_json=args.json)


if __name__ == "__main__":
    main()
