"""QR codes as grids of modules, for the pictures both ends draw: the help stickers the
centre prints and the payment code on the simulated lane's display.

A phone reads a code best when every module is a whole number of pixels with no blurred
edge, inside the light quiet zone of 4 modules ISO/IEC 18004 asks for; so the grid is
handed over, quiet zone included, and each picture scales it by whole pixels. Pure.
"""

from __future__ import annotations

from typing import Final, Literal

import numpy as np
import numpy.typing as npt
import segno

QUIET_MODULES: Final = 4

Modules = npt.NDArray[np.bool_]


def qr_modules(text: str, error: Literal["l", "m", "q", "h"]) -> Modules:
    """The QR code of ``text`` at error correction ``error`` exactly (not raised when
    it would fit the same size), True where a module is dark, quiet zone included."""
    matrix = np.array(segno.make_qr(text, error=error, boost_error=False).matrix, dtype=bool)
    return np.pad(matrix, QUIET_MODULES, constant_values=False)


def whole_pixels(modules: Modules, scale: int) -> Modules:
    """``modules`` with each module ``scale`` × ``scale`` pixels."""
    return np.asarray(np.repeat(np.repeat(modules, scale, axis=0), scale, axis=1), dtype=bool)
