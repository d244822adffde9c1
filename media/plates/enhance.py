"""Making a plate crop readable at a glance: a fixed, generous size, stretched contrast
and sharpened strokes. A plate from a 1080p snapshot is ~110 pixels tall, from a 720p one
~75, from a car still far off fewer: enlarged to one height, every crop reads alike."""

from __future__ import annotations

from typing import Final

import cv2
import numpy as np

from media.errors import PlateImageError
from media.plates.crop import Image, check_image

# Pixels, for the plate and its margin: its characters come out about 50 pixels tall,
# read at a glance on a 1366×768 console without filling it.
READABLE_HEIGHT: Final = 120
# CLAHE: a clip of 2 stretches a dim or glared plate's few grey levels without turning
# the noise of its flat face into texture; 8 tiles across follow a shadow over part of it.
_CLIP: Final = 2.0
_TILES: Final = (8, 2)
# Unsharp mask: subtract a blur of about a stroke's half-width, at this strength. The
# kernel stops at ±2 sigma: OpenCV's default, ±3 sigma, takes 11 taps for the last 5 %
# of the weight.
_SIGMA: Final = 1.5
_KERNEL: Final = (7, 7)
_AMOUNT: Final = 0.8


def upscale(plate: Image, height: int = READABLE_HEIGHT) -> Image:
    """``plate`` scaled to ``height`` pixels, its proportions kept: bicubic when it grows
    (smooth strokes), bilinear when it shrinks by less than half (area averaging at a
    fractional scale costs several times as much, and only past half would bilinear skip
    pixels and alias), area averaging beyond."""
    check_image(plate)
    if height < 8:
        raise PlateImageError(f"a readable plate needs at least 8 pixels of height, not {height}")
    h, w = plate.shape[:2]
    if h == height:
        return plate
    width = max(1, round(w * height / h))
    if height > h:
        grow = cv2.INTER_CUBIC
    else:
        grow = cv2.INTER_LINEAR if height * 2 >= h else cv2.INTER_AREA
    return np.asarray(cv2.resize(plate, (width, height), interpolation=grow), np.uint8)


def enhance(plate: Image) -> Image:
    """``plate`` with local contrast equalised (CLAHE) and its strokes sharpened (an
    unsharp mask), both on its luma only: the face keeps its colour (blue, yellow, green
    tell the agent the plate's kind), and one channel costs a third of three. Luma is
    YCrCb's, a linear mix: CIELAB's lightness would be a little truer to the eye at
    several times the cost."""
    check_image(plate)
    ycc = cv2.cvtColor(plate, cv2.COLOR_BGR2YCrCb)
    clahe = cv2.createCLAHE(clipLimit=_CLIP, tileGridSize=_TILES)
    luma = clahe.apply(np.ascontiguousarray(ycc[:, :, 0]))
    blurred = cv2.GaussianBlur(luma, _KERNEL, _SIGMA)
    ycc[:, :, 0] = cv2.addWeighted(luma, 1.0 + _AMOUNT, blurred, -_AMOUNT, 0)
    return np.asarray(cv2.cvtColor(ycc, cv2.COLOR_YCrCb2BGR), np.uint8)
