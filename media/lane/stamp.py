"""A capture time burnt into the picture, readable after lossy H.264: pure, no I/O.

A viewer measures frame age (capture to display) by reading the time back from the
decoded frame, whatever happened on the way: the lane's encoder, the centre's relay,
the browser's decoder. Nothing but the pixels survives that path, so the time is drawn
as 64 black or white blocks in two rows along the top-left corner:

=======  ====  ===========================================================
blocks   bits  meaning
=======  ====  ===========================================================
0-7      8     marker ``0xA7``: both colours, so the reader learns the levels
8-55     48    milliseconds since the Unix epoch, most significant bit first
56-63    8     CRC-8 (polynomial 0x07) of those six bytes
=======  ====  ===========================================================

Blocks are a multiple of 4 pixels and start at (0, 0), so they sit on H.264's 4x4
transform grid and survive ~0.5 Mbit/s at 640x480; the reader looks only at each
block's middle, away from ringing at the edges, and trusts no block that is grey.
"""

from __future__ import annotations

from typing import Final

import numpy as np
import numpy.typing as npt

Image = npt.NDArray[np.uint8]

COLUMNS: Final = 32
ROWS: Final = 2
_MARKER: Final = 0xA7
_TIME_BITS: Final = 48
_TIME_MASK: Final = (1 << _TIME_BITS) - 1
# Black-to-white contrast below which a corner is not a stamp (e.g. a dark scene).
_MIN_CONTRAST: Final = 96.0


def block_size(width: int) -> int:
    """Side of one block for a frame ``width`` pixels wide: 16 at 1280, 8 at 640."""
    return max(8, width // 80 // 4 * 4)


def stamp_height(width: int) -> int:
    """Pixels the stamp takes from the top of a frame ``width`` wide, for overlays to
    keep clear of."""
    return ROWS * block_size(width)


def write_stamp(img: Image, captured: float) -> None:
    """Burn ``captured`` (Unix time) into the top-left corner of a BGR or grey frame."""
    height, width = img.shape[:2]
    side = block_size(width)
    if width < COLUMNS * side or height < ROWS * side:
        raise ValueError(f"a {width}x{height} frame is too small for a time stamp")
    ms = round(captured * 1000) & _TIME_MASK
    payload = ms.to_bytes(6, "big")
    bits = _bits(bytes([_MARKER]) + payload + bytes([_crc8(payload)]))
    levels = np.where(bits, 255, 0).astype(np.uint8).reshape(ROWS, COLUMNS)
    # Each bit becomes a side x side block: repeat along both axes of the bit grid.
    blocks = np.repeat(np.repeat(levels, side, axis=0), side, axis=1)
    corner = img[: ROWS * side, : COLUMNS * side]
    corner[:] = blocks[:, :, None] if img.ndim == 3 else blocks


def read_stamp(img: Image) -> float | None:
    """The Unix time burnt in by ``write_stamp``, or None when the corner holds no valid
    stamp (another source, a scaled frame, or damage the CRC catches)."""
    height, width = img.shape[:2]
    side = block_size(width)
    if width < COLUMNS * side or height < ROWS * side:
        return None
    corner = img[: ROWS * side, : COLUMNS * side].astype(np.float32)
    if corner.ndim == 3:
        corner = corner.mean(axis=2)
    inner = slice(side // 4, side - side // 4)
    means = corner.reshape(ROWS, side, COLUMNS, side)[:, inner, :, inner].mean(axis=(1, 3))
    values = means.reshape(-1)
    marker = _bits(bytes([_MARKER]))
    white = float(values[:8][marker].mean())
    black = float(values[:8][~marker].mean())
    contrast = white - black
    if contrast < _MIN_CONTRAST:
        return None
    middle = (white + black) / 2
    if np.any(np.abs(values - middle) < contrast / 4):
        return None  # a grey block: not a stamp, or too damaged to trust
    raw = np.packbits(values > middle).tobytes()
    if raw[0] != _MARKER or _crc8(raw[1:7]) != raw[7]:
        return None
    return int.from_bytes(raw[1:7], "big") / 1000


def _bits(data: bytes) -> npt.NDArray[np.bool_]:
    return np.unpackbits(np.frombuffer(data, np.uint8)).astype(bool)


def _crc8(data: bytes) -> int:
    """CRC-8 with polynomial x^8 + x^2 + x + 1 (as in ATM HEC), no reflection."""
    crc = 0
    for byte in data:
        crc ^= byte
        for _ in range(8):
            crc = ((crc << 1) ^ 0x07) & 0xFF if crc & 0x80 else (crc << 1) & 0xFF
    return crc
