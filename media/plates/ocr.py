"""A second reading of a plate, beyond the camera's: an OCR model reads the enhanced crop
(``media.plates.readable``), and its text is made a plate by GA 36-2018's spelling rules.

The model is PP-OCR's Chinese detector and recogniser as ``rapidocr-onnxruntime`` ships
them inside its wheel, run by ONNX Runtime on the CPU: nothing is downloaded when it
runs. Loading it takes about half a second and ~110 MB, so :class:`PlateReader` loads
it on its first read, on the thread that reads; the centre reads on demand only, on its own
thread (``console.vehicles.readings``).

:func:`reading_of` is the pure part: the model's lines of text in, a plate out.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any, Final, Protocol

from gates.plates import normalise
from media.errors import OcrUnavailable
from media.plates.crop import Image, check_image
from media.plates.reading import PlateReading

# The detector scales a picture so its longer side is at most this. Its default scales the
# shorter side up to 736 pixels: a 120-pixel-high crop becomes 736 × 1,800, and a read
# takes seconds instead of ~100 ms, for no better reading of a plate that fills the crop.
DETECT_SIDE: Final = 320
# How far the detector grows each region of text it finds (RapidOCR's default: 1.6).
# GA 36-2018 prints the series character of police, learner and trailer plates (警, 学,
# 挂) in red, fainter than the black ones in the grey the detector sees: at 1.6 its region
# stopped short of 警 on the benchmark's police plate, by day and by night, and the plate
# was read without it; at 2.0 all eighteen of its crops were read whole.
DETECT_GROW: Final = 2.0
# Lines the model is less sure of than this are left out (RapidOCR's own default).
MIN_LINE_SCORE: Final = 0.5

# One line the model read: its four corners (x, y), the text, and how sure it is (0-1).
Point = Sequence[float]
Line = tuple[Sequence[Point], str, float]


UNREADABLE: Final = PlateReading("", 0.0)


def reading_of(lines: Sequence[Line], min_score: float = MIN_LINE_SCORE) -> PlateReading:
    """The plate in the model's ``lines``: read row by row, top to bottom (a double-row
    plate's issuer stands above its serial, GA 36-2018), each row left to right; then
    normalised (``gates.plates.normalise``: the '·' after the issuer, spaces, full-width
    letters) and left with letters, digits and Chinese characters only: a plate's frame
    and rivets come out as '|', '[' or '-'. A character the model read that no plate
    holds (警 misread 窖) stays, for the plate rules to point at."""
    kept = [line for line in lines if line[2] >= min_score and line[1].strip()]
    if not kept:
        return UNREADABLE
    text = "".join(line[1] for line in _in_reading_order(kept))
    plate = "".join(ch for ch in normalise(text) if ch.isalnum())
    if not plate:
        return UNREADABLE
    return PlateReading(plate, round(min(float(line[2]) for line in kept), 3))


def _in_reading_order(lines: list[Line]) -> list[Line]:
    """``lines`` in rows (a line whose middle lies within a row's height joins it), the
    rows top to bottom, each left to right."""
    rows: list[tuple[float, float, list[Line]]] = []
    for line in sorted(lines, key=lambda each: _top(each)):
        ys = [float(point[1]) for point in line[0]]
        middle = (min(ys) + max(ys)) / 2
        for top, bottom, row in rows:
            if top <= middle <= bottom:
                row.append(line)
                break
        else:
            rows.append((min(ys), max(ys), [line]))
    return [line for _, _, row in rows for line in sorted(row, key=_left)]


def _top(line: Line) -> float:
    return min(float(point[1]) for point in line[0])


def _left(line: Line) -> float:
    return min(float(point[0]) for point in line[0])


class Engine(Protocol):
    """RapidOCR's call: a picture in, its lines (or None) and timings out."""

    def __call__(self, image: Image, *, use_cls: bool) -> tuple[Any, Any]: ...


class PlateReader:
    """Reads plate crops with the model, loaded on the first read. ``read`` blocks for
    ~0.1-0.5 s of CPU: call it from a worker thread, one read at a time (a lock keeps
    two threads from sharing the ONNX sessions' buffers).

    ``threads`` is ONNX Runtime's per read: one, by default, because the centre shares
    its cores with lanes' media and the store, and on the two-core development machine
    under load a read's median was 287 ms on two threads against 123 ms on one."""

    def __init__(self, threads: int = 1) -> None:
        if threads < 1:
            raise ValueError(f"an OCR read needs at least 1 thread, not {threads}")
        self.threads = threads
        self._engine: Engine | None = None
        self._lock = threading.Lock()

    @property
    def loaded(self) -> bool:
        return self._engine is not None

    def read(self, plate: Image) -> PlateReading:
        """The plate in ``plate`` (BGR, a readable crop). ``OcrUnavailable`` when the
        model's package is not installed."""
        check_image(plate)
        with self._lock:
            engine = self._load()
            # No angle classifier: a lane camera never sees a plate upside down.
            lines, _ = engine(plate, use_cls=False)
        return reading_of(lines or [])

    def _load(self) -> Engine:
        if self._engine is None:
            try:
                from rapidocr_onnxruntime import RapidOCR
            except ImportError as exc:
                raise OcrUnavailable(
                    f"the OCR model's package is not installed ({exc}): run make"
                ) from exc
            self._engine = RapidOCR(
                det_limit_type="max",
                det_limit_side_len=DETECT_SIDE,
                det_unclip_ratio=DETECT_GROW,
                intra_op_num_threads=self.threads,
                inter_op_num_threads=1,
            )
        return self._engine
