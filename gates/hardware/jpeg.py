"""The size of a JPEG picture, read from its frame header.

Cameras give a plate's box relative to the picture (Hikvision in thousandths, Dahua on a
0–8192 grid), and the lane link wants pixels; the picture itself says how many.
"""

from __future__ import annotations

# Start-of-frame markers (ITU T.81 table B.1); C4, C8 and CC share the range but are not.
_SOF = frozenset(range(0xC0, 0xD0)) - {0xC4, 0xC8, 0xCC}


def jpeg_size(data: bytes) -> tuple[int, int] | None:
    """(width, height), or None when ``data`` is not a JPEG with a frame header."""
    if data[:2] != b"\xff\xd8":
        return None
    at = 2
    while at + 4 <= len(data):
        if data[at] != 0xFF:
            return None
        marker = data[at + 1]
        if marker == 0xFF:  # fill byte
            at += 1
            continue
        if marker in (0x01, *range(0xD0, 0xD8)):  # standalone markers, no length
            at += 2
            continue
        length = int.from_bytes(data[at + 2 : at + 4], "big")
        if marker in _SOF:
            if at + 9 > len(data):
                return None
            height = int.from_bytes(data[at + 5 : at + 7], "big")
            width = int.from_bytes(data[at + 7 : at + 9], "big")
            return (width, height) if width and height else None
        if marker == 0xDA or length < 2:  # scan data before any frame header: not a JPEG
            return None
        at += 2 + length
    return None


def scaled_box(
    rect: tuple[float, float, float, float], scale: float, size: tuple[int, int]
) -> tuple[int, int, int, int]:
    """A box given on a ``scale``-unit grid as (x, y, width, height), in pixels of a
    picture of ``size``, clipped to the picture."""
    width, height = size
    x = round(rect[0] * width / scale)
    y = round(rect[1] * height / scale)
    w = round(rect[2] * width / scale)
    h = round(rect[3] * height / scale)
    x, y = min(max(x, 0), width), min(max(y, 0), height)
    return (x, y, max(0, min(w, width - x)), max(0, min(h, height - y)))
