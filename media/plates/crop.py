"""Cutting a plate out of a snapshot by its box."""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

from media.errors import PlateImageError

Image = npt.NDArray[np.uint8]
Box = tuple[int, int, int, int]  # x, y, width, height in pixels, as the lane link's `box`

# Around the box, as a fraction of the plate's height: a camera's box is often a few
# pixels short of the plate's frame, and a tilted plate's corners stick out of it.
MARGIN: Final = 0.25


def check_image(image: Image) -> None:
    """``PlateImageError`` unless ``image`` is a non-empty 8-bit BGR picture."""
    if image.dtype != np.uint8 or image.ndim != 3 or image.shape[2] != 3:
        raise PlateImageError(
            f"a plate crop needs an 8-bit BGR picture, not {image.dtype} {image.shape}"
        )
    if image.shape[0] == 0 or image.shape[1] == 0:
        raise PlateImageError("the picture is empty")


def widen(box: Box, size: tuple[int, int], margin: float = MARGIN) -> Box:
    """``box`` grown by ``margin`` × its height on every side and clamped to a picture of
    ``size`` (width, height). ``PlateImageError`` if it has no area or lies outside."""
    x, y, w, h = box
    width, height = size
    if w <= 0 or h <= 0:
        raise PlateImageError(f"a plate box needs a width and a height, not {list(box)}")
    if margin < 0:
        raise PlateImageError(f"a crop's margin cannot be negative, not {margin}")
    pad = round(h * margin)
    x0, y0 = max(x - pad, 0), max(y - pad, 0)
    x1, y1 = min(x + w + pad, width), min(y + h + pad, height)
    if x1 <= x0 or y1 <= y0:
        raise PlateImageError(f"the plate box {list(box)} lies outside a {width}x{height} picture")
    return (x0, y0, x1 - x0, y1 - y0)


def crop(image: Image, box: Box, margin: float = MARGIN) -> Image:
    """The part of ``image`` inside ``box`` widened by ``margin`` (see :func:`widen`); a
    copy, so the snapshot can be dropped."""
    check_image(image)
    x, y, w, h = widen(box, (image.shape[1], image.shape[0]), margin)
    return image[y : y + h, x : x + w].copy()


def overlap(a: Box, b: Box) -> float:
    """Intersection over union of two boxes (0 apart, 1 the same): how well a box found
    for a plate matches the plate's, as detection benchmarks score it."""
    across = max(0, min(a[0] + a[2], b[0] + b[2]) - max(a[0], b[0]))
    down = max(0, min(a[1] + a[3], b[1] + b[3]) - max(a[1], b[1]))
    both = across * down
    union = a[2] * a[3] + b[2] * b[3] - both
    return both / union if union > 0 else 0.0
