"""Finding the plate in a snapshot that came without a box.

Two cues, as classic licence-plate finders use them: a plate's face is one of a few
saturated or bright colours (GA 36-2018: blue, yellow, new-energy green shading from
white, white), and it carries a row of dark-on-light or light-on-dark characters, whose
vertical strokes give a dense band of horizontal gradient. Regions from either cue are
candidates. Each is turned level (a tilted plate's region is a tilted rectangle), its top
and bottom set by the rows its characters cross, and scored by how much of it has a plate
colour, how many ink/face changes a line across it crosses (seven characters make about
fourteen), and how close its shape is to a plate's. The search runs on a copy at most
``WORK_WIDTH`` wide: a plate is still tens of pixels wide there, and the work is a ninth
of a 1920×1080 frame's.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np

from gates.vocabulary import PlateColour
from media.plates.crop import Box, Image, check_image

WORK_WIDTH: Final = 640

# Face colours in OpenCV's HSV (hue 0-180): (hue low, hue high, saturation low, value low).
_SATURATED: Final[dict[PlateColour, tuple[int, int, int, int]]] = {
    PlateColour.BLUE: (100, 130, 120, 60),
    PlateColour.YELLOW: (15, 35, 100, 100),
    PlateColour.GREEN: (35, 90, 50, 80),
}
# White has no hue: little saturation, bright.
_WHITE_SATURATION: Final = 45
_WHITE_VALUE: Final = 160

# GA 36-2018: characters are 90 mm tall on a 140 mm plate and span about 409 of its
# 440 mm; a band found from the characters alone is grown by these to the plate's edge.
_TEXT_TO_PLATE_H: Final = 140 / 90
_TEXT_TO_PLATE_W: Final = 440 / 409
# A plate is 440 × 140 mm (3.1:1), a new-energy one 480 × 140 (3.4:1); tilt and a loose
# box widen the range that is worth scoring.
_ASPECT: Final = 3.3
_ASPECT_RANGE: Final = (1.6, 6.5)
_MIN_HEIGHT: Final = 8  # pixels at the working scale: fewer cannot hold characters
# A green plate's top third shades to white; this much green makes the white part of it.
_GREEN_SHARE: Final = 0.25
# Below this score a candidate is not believed to be a plate: the simulator's plates score
# 0.55-0.73, the best of its empty lanes (the lane lines, the barrier cabinet, the time
# burnt in) 0.05-0.16.
MIN_SCORE: Final = 0.3
# A plate tilted further than this is not one a lane camera reads.
_MAX_TILT: Final = 30.0

# cv2's rotated rectangle: centre, (width, height), degrees.
Rotated = tuple[tuple[float, float], tuple[float, float], float]


@dataclass(frozen=True, slots=True)
class Located:
    """Where a plate was found (the upright box around it, even when it is tilted), the
    colour of its face, and how plate-like it looked (0-1: the share of plate colour ×
    the characters crossed × the shape)."""

    box: Box
    colour: PlateColour
    score: float


def locate(image: Image) -> Located | None:
    """The most plate-like region of ``image`` (BGR), or None if nothing scores
    ``MIN_SCORE``."""
    check_image(image)
    height, width = image.shape[:2]
    scale = min(1.0, WORK_WIDTH / width)
    small = image if scale == 1.0 else _shrink(image, scale)
    best: tuple[float, PlateColour, Rotated] | None = None
    for rect in _candidates(small):
        scored = _score(small, rect)
        if scored is not None and (best is None or scored[0] > best[0]):
            best = scored
    if best is None or best[0] < MIN_SCORE:
        return None
    score, colour, rect = best
    corners = cv2.boxPoints(rect) / scale
    x0, y0 = (max(int(v), 0) for v in np.floor(corners.min(axis=0)))
    x1, y1 = (int(v) for v in np.ceil(corners.max(axis=0)))
    x1, y1 = min(x1, width), min(y1, height)
    return Located((x0, y0, x1 - x0, y1 - y0), colour, round(score, 3))


def _shrink(image: Image, scale: float) -> Image:
    # Bilinear, not area averaging: on a 1920×1080 frame it is twenty times cheaper
    # (~1 ms against ~20), and the aliasing it lets through moves no plate edge by more
    # than a working pixel.
    size = (round(image.shape[1] * scale), max(1, round(image.shape[0] * scale)))
    return np.asarray(cv2.resize(image, size, interpolation=cv2.INTER_LINEAR), np.uint8)


def _colour_masks(image: Image) -> dict[PlateColour, Image]:
    hsv = cv2.cvtColor(image, cv2.COLOR_BGR2HSV)
    masks: dict[PlateColour, Image] = {}
    for colour, (h0, h1, s0, v0) in _SATURATED.items():
        masks[colour] = np.asarray(cv2.inRange(hsv, (h0, s0, v0), (h1, 255, 255)), np.uint8)
    masks[PlateColour.WHITE] = np.asarray(
        cv2.inRange(hsv, (0, 0, _WHITE_VALUE), (180, _WHITE_SATURATION, 255)), np.uint8
    )
    return masks


def _candidates(image: Image) -> list[Rotated]:
    """Outlines of colour regions and of bands of characters, the latter grown to a plate."""
    masks = _colour_masks(image)
    gray = cv2.cvtColor(image, cv2.COLOR_BGR2GRAY)
    close = cv2.getStructuringElement(cv2.MORPH_RECT, (max(3, gray.shape[1] // 60), 3))
    rects: list[Rotated] = []
    for colour in _SATURATED:
        joined = np.asarray(cv2.morphologyEx(masks[colour], cv2.MORPH_CLOSE, close), np.uint8)
        rects.extend(_regions(joined))
    # Characters: strong horizontal gradient, joined along the row they stand in.
    grad = cv2.convertScaleAbs(cv2.Sobel(gray, cv2.CV_16S, 1, 0, ksize=3))
    _, strokes = cv2.threshold(grad, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    band = cv2.morphologyEx(strokes, cv2.MORPH_CLOSE, close)
    band = cv2.morphologyEx(band, cv2.MORPH_OPEN, cv2.getStructuringElement(cv2.MORPH_RECT, (5, 3)))
    for centre, (w, h), angle in _regions(np.asarray(band, np.uint8)):
        rects.append((centre, (w * _TEXT_TO_PLATE_W, h * _TEXT_TO_PLATE_H), angle))
    return rects


def _regions(mask: Image) -> list[Rotated]:
    """The outlines in ``mask`` shaped and tilted like a plate, long side first."""
    contours, _ = cv2.findContours(mask, cv2.RETR_EXTERNAL, cv2.CHAIN_APPROX_SIMPLE)
    rects: list[Rotated] = []
    for contour in contours:
        (cx, cy), (w, h), angle = cv2.minAreaRect(contour)
        if w < h:
            w, h, angle = h, w, angle - 90.0
        # OpenCV's range for the angle changed across 4.x; fold any into [-90, 90).
        angle = (angle + 90.0) % 180.0 - 90.0
        if (
            h >= _MIN_HEIGHT
            and _ASPECT_RANGE[0] <= w / h <= _ASPECT_RANGE[1]
            and abs(angle) <= _MAX_TILT
        ):
            rects.append(((cx, cy), (w, h), angle))
    return rects


def _upright(image: Image, rect: Rotated) -> Image:
    """The inside of ``rect`` turned level, as a picture its own size."""
    (cx, cy), (w, h), angle = rect
    turn = cv2.getRotationMatrix2D((cx, cy), angle, 1.0)
    turn[0, 2] += w / 2 - cx
    turn[1, 2] += h / 2 - cy
    size = (max(round(w), 1), max(round(h), 1))
    return np.asarray(
        cv2.warpAffine(image, turn, size, flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE),
        np.uint8,
    )


def _score(image: Image, rect: Rotated) -> tuple[float, PlateColour, Rotated] | None:
    """How plate-like ``rect`` is, the colour of its face, and its outline levelled with
    its characters (:func:`_level`): the share of colour and the crossings are measured
    on the plate, not on the bumper a loose outline runs into."""
    (cx, cy), (w, h), angle = rect
    roomy = _upright(image, ((cx, cy), (w, h * 1.5), angle))
    top, plate_h = _level(np.asarray(cv2.cvtColor(roomy, cv2.COLOR_BGR2GRAY), np.uint8), h)
    patch = roomy[max(top, 0) : top + plate_h]
    if patch.shape[0] < _MIN_HEIGHT:
        return None
    masks = _colour_masks(patch)
    area = float(patch.shape[0] * patch.shape[1])
    shares = {c: float(np.count_nonzero(m)) / area for c, m in masks.items()}
    if shares[PlateColour.GREEN] >= _GREEN_SHARE:
        shares[PlateColour.GREEN] += shares[PlateColour.WHITE]
        shares[PlateColour.WHITE] = 0.0
    colour = max(shares, key=lambda c: shares[c])
    crossings = _crossings(np.asarray(cv2.cvtColor(patch, cv2.COLOR_BGR2GRAY), np.uint8))
    # Seven or eight characters: about 14-16 changes, more with the frame and the dot.
    text = min(1.0, max(0.0, (crossings - 4) / 10)) * (1.0 if crossings <= 40 else 0.3)
    shape = math.exp(-((((w / plate_h) - _ASPECT) / 1.2) ** 2))
    score = min(shares[colour], 1.0) * text * shape
    if score <= 0:
        return None
    # The levelled plate's centre, back in the picture's frame.
    shift = top + plate_h / 2 - roomy.shape[0] / 2
    rad = math.radians(angle)
    centre = (cx - shift * math.sin(rad), cy + shift * math.cos(rad))
    return score, colour, (centre, (w, float(plate_h)), angle)


def _level(gray: Image, h: float) -> tuple[int, int]:
    """The first row and the height of the plate in ``gray``, a level strip around an
    outline ``h`` tall.

    An outline is loose in height (a colour region runs into a bumper of the same paint,
    a band of strokes takes in the plate's sides), but the rows the characters cross are
    where the horizontal gradient is strong; the plate is those rows grown by GA 36-2018's
    proportions. Without such a band the outline stays as it was.
    """
    rows = gray.shape[0]
    keep = (round((rows - h) / 2), round(h))
    grad = np.abs(cv2.Sobel(gray, cv2.CV_32F, 1, 0, ksize=3)).mean(axis=1)
    peak = int(np.argmax(grad))
    strong = grad >= grad[peak] * 0.4
    top = bottom = peak
    while top > 0 and strong[top - 1]:
        top -= 1
    while bottom < rows - 1 and strong[bottom + 1]:
        bottom += 1
    band = bottom - top + 1
    if band < h * 0.4:
        return keep  # a stripe, not a row of characters
    plate_h = round(band * _TEXT_TO_PLATE_H)
    return round((top + bottom + 1) / 2 - plate_h / 2), plate_h


def _crossings(region: Image) -> int:
    """Ink/face changes along lines across the middle of ``region`` (the median of five),
    where the characters stand whatever their colour."""
    _, ink = cv2.threshold(region, 0, 1, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    h = ink.shape[0]
    rows = [ink[min(round(h * f), h - 1)] for f in (0.4, 0.45, 0.5, 0.55, 0.6)]
    counts = sorted(int(np.count_nonzero(np.diff(row.astype(np.int8)))) for row in rows)
    return counts[len(counts) // 2]
