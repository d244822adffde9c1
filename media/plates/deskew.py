"""Levelling a tilted plate: a camera mounted beside the lane, or a car stopped askew,
shows the plate's rows slanting, and slanted characters read slower."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from media.plates.crop import Image, check_image

# Edges further from level than this are not the plate's edges or rows but the upright
# strokes of its characters (GA 36-2018) or the car's bodywork.
_MAX_TILT: Final = 30.0
_MIN_EDGE: Final = 60.0  # |gx| + |gy| of Scharr's kernel at a step of ~4 grey levels
_HALVE_FROM: Final = 96  # rows: from this height the edges are read at half the size
_MIN_PIXELS: Final = 20  # fewer strong near-level edge pixels than this say nothing
# Below this a rotation only blurs: half a degree moves a 3:1 plate's end by ~1 % of
# its height.
_NEGLIGIBLE: Final = 0.5


def estimate_tilt(plate: Image) -> float:
    """Degrees ``plate`` is turned counter-clockwise as seen (OpenCV's sense of rotation:
    its right end is higher), from its near-level edges: the plate's top and bottom, its
    frame, the bumper line, the level strokes of its characters. 0.0 when it shows none.

    Each strong edge pixel's gradient is normal to its edge, so its direction gives the
    edge's slope (Scharr's kernel, whose directions are truer than Sobel's 3×3).
    It costs a few array passes and one sort, where a Hough transform of the same crop
    costs ten times as much.
    """
    check_image(plate)
    gray = cv2.cvtColor(plate, cv2.COLOR_BGR2GRAY)
    if gray.shape[0] >= _HALVE_FROM:
        # A slope is the same at half the size, and a quarter of the pixels cost a quarter.
        gray = cv2.pyrDown(gray)
    gx = cv2.Scharr(gray, cv2.CV_32F, 1, 0)
    gy = cv2.Scharr(gray, cv2.CV_32F, 0, 1)
    strength = np.abs(gx) + np.abs(gy)
    # Strong edges only: the flat face's noise and JPEG's blocks have no direction.
    keep = (strength >= max(float(strength.max()) * 0.25, _MIN_EDGE)) & (gy != 0)
    slopes = np.degrees(np.arctan(gx[keep] / gy[keep]))
    order = np.argsort(slopes)
    slopes = slopes[order]
    cumulative = np.cumsum(strength[keep][order])
    tilt = 0.0
    # The median of the slopes, weighted by strength: a stray edge (a shadow, the grille)
    # cannot drag it as it would a mean. The window of slopes counted is centred on the
    # estimate so far: centred on level, it cuts a tilted plate's slopes off on one side
    # and the median follows the cut (by ~15 % at 12°). After three rounds the
    # simulator's plates, tilted up to 12°, read within half a degree.
    for _ in range(3):
        lo, hi = np.searchsorted(slopes, (tilt - _MAX_TILT, tilt + _MAX_TILT))
        if hi - lo < _MIN_PIXELS:
            return 0.0
        below = cumulative[lo - 1] if lo > 0 else 0.0
        half = below + (cumulative[hi - 1] - below) / 2
        tilt = float(slopes[min(int(np.searchsorted(cumulative, half)), hi - 1)])
    return tilt


def deskew(plate: Image, tilt: float | None = None) -> Image:
    """``plate`` turned level (by ``tilt`` degrees, as :func:`estimate_tilt` measures it,
    estimated when not given), the same size, corners filled from its edge."""
    check_image(plate)
    if tilt is None:
        tilt = estimate_tilt(plate)
    if abs(tilt) < _NEGLIGIBLE:
        return plate
    height, width = plate.shape[:2]
    turn = cv2.getRotationMatrix2D((width / 2, height / 2), -tilt, 1.0)
    return np.asarray(
        cv2.warpAffine(
            plate, turn, (width, height), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REPLICATE
        ),
        np.uint8,
    )
