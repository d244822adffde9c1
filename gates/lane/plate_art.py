"""Number plates drawn as GA 36-2018 prints them, for the simulated camera's pictures.

The plate is the part of a snapshot an agent reads and the OCR is tested on, so it is
drawn with care: the standard's colours and gradients, its character cells, the red of
a police plate, the province's Chinese character in a real CJK font where one is
installed (``gates.fonts``) and a framed code where not. Pure functions of their
arguments: the same plate gives the same pixels.
"""

from __future__ import annotations

import functools
import logging
import os
from typing import Final

import cv2
import numpy as np
import numpy.typing as npt

from gates.fonts import (
    FONT_ENV,
    FONT_PACKAGE,
    CjkFont,
    first_drawing,
    glyph_mask,
    system_candidates,
)
from gates.plates import PROVINCE_CODES, PROVINCES, SERIES_CODES
from gates.vocabulary import PlateColour

log = logging.getLogger("seat.lane")

Image = npt.NDArray[np.uint8]
BGR = tuple[int, int, int]

# GA 36-2018 plate faces, as the camera sees them under its IR-assisted exposure (BGR).
_FACE: Final[dict[PlateColour, BGR]] = {
    PlateColour.BLUE: (170, 72, 16),
    PlateColour.YELLOW: (24, 196, 246),
    PlateColour.GREEN: (96, 200, 72),
    PlateColour.YELLOW_GREEN: (72, 200, 96),
    PlateColour.WHITE: (242, 242, 242),
    PlateColour.BLACK: (24, 24, 24),
    PlateColour.UNKNOWN: (128, 128, 128),
}
_INK: Final[dict[PlateColour, BGR]] = {
    PlateColour.BLUE: (250, 250, 250),
    PlateColour.YELLOW: (20, 20, 20),
    PlateColour.GREEN: (20, 20, 20),
    PlateColour.YELLOW_GREEN: (20, 20, 20),
    PlateColour.WHITE: (20, 20, 20),
    PlateColour.BLACK: (250, 250, 250),
    PlateColour.UNKNOWN: (250, 250, 250),
}
_RED: Final[BGR] = (30, 30, 210)  # the 警 of a police plate
_FONT: Final[int] = cv2.FONT_HERSHEY_DUPLEX
# Every Chinese character a plate can carry: a font must draw them all to be used.
_HANZI: Final[str] = PROVINCES + "".join(SERIES_CODES)


@functools.cache
def plate_font() -> CjkFont | None:
    """The font the plates' Chinese characters are drawn with, looked for once per process
    (``gates.fonts``). Without one each is drawn as a framed code (京 as BJ, as
    ``PROVINCE_CODES`` spells it), and one event says so."""
    font = first_drawing(_HANZI, system_candidates())
    if font is None:
        log.warning(
            "lane.snapshot.font_missing package=%s %s=%r fallback=codes",
            FONT_PACKAGE,
            FONT_ENV,
            os.environ.get(FONT_ENV, ""),
        )
    return font


@functools.lru_cache(maxsize=64)
def plate_face(
    plate: str, colour: PlateColour, box: tuple[int, int, int, int], font: CjkFont | None
) -> Image:
    """The plate drawn on its own, so it can be clipped at the frame's edge and reused while
    a car stands still (the glyphs are most of the cost of a car). Callers must not modify it.

    Glyph positions are worked out in frame coordinates, then shifted: rounding ``x + a``
    and ``a`` can differ by a pixel, and a snapshot must not change with how it is drawn.
    """
    _, _, w, h = box
    face = np.empty((h, w, 3), np.uint8)
    _draw_plate(face, box, plate, colour, font)
    return face


def _draw_plate(
    region: Image,
    box: tuple[int, int, int, int],
    plate: str,
    colour: PlateColour,
    font: CjkFont | None,
) -> None:
    """Draw the plate of ``box`` into ``region``, an image exactly the size of the box."""
    x, y, w, h = box
    face = _FACE[colour]
    ink = _INK[colour]
    if colour is PlateColour.GREEN:
        # GA 36-2018: small new-energy plates shade from white at the top to green.
        ramp = np.linspace(0.0, 1.0, h, dtype=np.float32)[:, None]
        white = np.array([235, 245, 235], np.float32)
        region[:] = (white + (np.array(face, np.float32) - white) * ramp)[:, None, :].astype(
            np.uint8
        )
    elif colour is PlateColour.YELLOW_GREEN:
        # GA 36-2018: large new-energy plates are yellow behind the authority, green after.
        split = w * 2 // 8
        region[:, :split] = _FACE[PlateColour.YELLOW]
        region[:, split:] = face
    else:
        region[:] = face
    margin = max(2, h // 14)
    cv2.rectangle(region, (margin, margin), (w - margin, h - margin), ink, 1)

    # One cell per character and a gap for the separator dot after the authority letter.
    cells = max(len(plate), 1)
    inner_x, inner_w = x + margin * 2, w - margin * 4
    cell_w = inner_w / (cells + 0.5)
    glyph_h = int(h * 0.68)
    glyph_y = y + (h - glyph_h) // 2
    stroke = max(1, h // 28)
    glyph_w = int(cell_w * 0.82)
    for i, ch in enumerate(plate):
        cell_x = inner_x + cell_w * (i + (0.5 if i >= 2 else 0.0))
        gx = int(cell_x + (cell_w - glyph_w) / 2)
        gx, gy = gx - x, glyph_y - y
        # GA 36-2018 and 国办发〔2018〕114号 print these in red (使 is white now).
        tint = _RED if ch in "警领应急" else ink
        if ch.isascii():
            mask = _glyph(ch, glyph_w, glyph_h, stroke)
        elif font is not None and ch in _HANZI:
            # Plate characters are bold (GA 36-2018 strokes are 10 mm of 90); a text
            # face is not, so it is emboldened before being squeezed into the cell.
            mask = squeeze(glyph_mask(font, ch, 96, bold=2), glyph_w, glyph_h)
        else:
            code = PROVINCE_CODES.get(ch) or SERIES_CODES.get(ch, "?")
            paint_mask(region, _glyph(code, glyph_w, glyph_h, stroke), gx, gy, tint)
            # Marks a stand-in for a Chinese character the Hershey fonts cannot draw.
            cv2.rectangle(region, (gx - 1, gy - 2), (gx + glyph_w, gy + glyph_h + 1), tint, 1)
            continue
        paint_mask(region, mask, gx, gy, tint)
    if cells >= 3:
        dot_x = int(inner_x + cell_w * 2.25) - x
        cv2.circle(region, (dot_x, h // 2), max(2, h // 18), ink, -1, cv2.LINE_AA)


def _glyph(text: str, width: int, height: int, stroke: int) -> Image:
    """``text`` as an anti-aliased mask stretched to ``width`` × ``height``.

    Plate characters are tall and narrow (GA 36-2018: 45 × 90 mm); Hershey glyphs are
    squat, so each is drawn large and squeezed into its cell.
    """
    base = 4.0
    bold = max(2, round(stroke * 6))
    (tw, th), baseline = cv2.getTextSize(text, _FONT, base, bold)
    canvas = np.zeros((th + baseline + bold * 2, tw + bold * 2), np.uint8)
    cv2.putText(canvas, text, (bold, th + bold), _FONT, base, 255, bold, cv2.LINE_AA)
    ys, xs = np.nonzero(canvas)
    if len(xs) == 0:
        return np.zeros((height, width), np.uint8)
    ink = canvas[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    if len(text) == 1 and ink.shape[1] < ink.shape[0] * 0.4:
        # "1" stays thin rather than being stretched into a block.
        pad = (ink.shape[0] // 2 - ink.shape[1]) // 2
        ink = np.pad(ink, ((0, 0), (pad, pad)))
    return squeeze(ink, width, height)


def squeeze(ink: Image, width: int, height: int) -> Image:
    """``ink`` resized to fill a ``width`` × ``height`` cell, as plate characters do."""
    squeezed = cv2.resize(ink, (max(width, 1), max(height, 1)), interpolation=cv2.INTER_AREA)
    return np.asarray(squeezed, dtype=np.uint8)


def paint_mask(img: Image, mask: Image, x: int, y: int, colour: BGR) -> None:
    h, w = mask.shape
    region = img[y : y + h, x : x + w]
    alpha = (mask[: region.shape[0], : region.shape[1]].astype(np.float32) / 255.0)[:, :, None]
    paint = np.array(colour, np.float32)
    region[:] = (region.astype(np.float32) * (1.0 - alpha) + paint * alpha).astype(np.uint8)
