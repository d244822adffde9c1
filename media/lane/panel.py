"""The simulated lane's LED display as its camera films it: a dark panel on the kerb left
of the lane, its lines in amber, and below them the QR code of a payment link when the
centre sent one (the lane-link ``display`` command's ``qr``). Pure: a picture is a
function of the panel's size, what it shows and the font.

The panel stands nearer the camera than a car at the barrier, so it is drawn over the car,
and it ends left of where the lowered arm's tip reaches. A display changes only when a
command arrives, so the scene draws it once per change and copies it into each frame.

The QR code is drawn as a phone needs it (``gates.qrcodes``): every module a whole number
of pixels, dark on a lit background, with the 4-module quiet zone. Error correction M: a
screen has no dirt, but the picture reaches the agent through a lossy encoder.
A 512-character link is 89 modules a side and gets 3 pixels a module in a 1280x720 frame;
in a frame too small for one pixel a module it is shrunk, blurred as a camera would
show a code it cannot resolve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

import cv2
import numpy as np
from PIL import Image as PilImage
from PIL import ImageDraw

from gates.fonts import CjkFont, face
from gates.lane.plate_art import BGR, Image, paint_mask, squeeze
from gates.lane.sim import DISPLAY_SIZE
from gates.lane.snapshot import Panel
from gates.qrcodes import qr_modules, whole_pixels

_BOARD: Final[BGR] = (24, 22, 20)  # unlit LEDs
_BEZEL: Final[BGR] = (70, 70, 72)
_AMBER: Final[BGR] = (0, 176, 255)
_LIT: Final[BGR] = (236, 236, 232)  # the QR code's backlit field
_DARK: Final[BGR] = (20, 20, 20)


@dataclass(frozen=True, slots=True)
class PanelLayout:
    """Where the panel stands in a frame and how its face is divided, in pixels: ``rows``
    lines of text ``line`` tall under a ``pad`` margin, then a ``qr``-sided square."""

    x: int
    y: int
    width: int
    height: int
    pad: int
    line: int
    rows: int
    qr: int

    @property
    def text_top(self) -> int:
        return self.pad

    @property
    def qr_top(self) -> int:
        return self.pad + self.rows * self.line + self.pad


def panel_layout(size: tuple[int, int], top: int) -> PanelLayout:
    """The panel of a ``size`` (width, height) frame whose top ``top`` pixels and the
    overlay's two lines under them are kept clear. Its right edge, at 0.255 of the
    width, stays left of the lowered arm's tip (0.263: an arm 0.62 of the width long
    from its pivot at 0.883), and its foot above 0.95 of the height."""
    width, height = size
    x = round(width * 0.01)
    y = top + round(height * 0.13)
    panel_w = round(width * 0.245)
    pad = max(2, width // 160)
    line = max(6, round(height * 0.04))
    rows = DISPLAY_SIZE.lines
    room = round(height * 0.95) - (y + pad + rows * line + pad + pad)
    qr = max(0, min(panel_w - 2 * pad, room))
    return PanelLayout(x, y, panel_w, pad + rows * line + pad + qr + pad, pad, line, rows, qr)


def draw_panel(layout: PanelLayout, panel: Panel, font: CjkFont | None) -> Image:
    """The panel's face showing ``panel``: its lines with ``font``, or without one as
    ASCII with a box for each other character (what a font draws for a glyph it lacks)."""
    img = np.empty((layout.height, layout.width, 3), np.uint8)
    img[:] = _BOARD
    cv2.rectangle(
        img, (0, 0), (layout.width - 1, layout.height - 1), _BEZEL, max(1, layout.pad // 2)
    )
    inner = layout.width - 2 * layout.pad
    # More lines than the panel has rows share the rows' height, as a controller shrinks
    # its font to fit.
    line = layout.line * layout.rows // max(layout.rows, len(panel.lines))
    for n, text in enumerate(panel.lines):
        if not text:
            continue
        mask = _line_mask(text, round(line * 0.8), font)
        fit = (min(mask.shape[1], inner), min(mask.shape[0], line))
        if fit != (mask.shape[1], mask.shape[0]):
            mask = squeeze(mask, *fit)  # a long line is squeezed, not cut off
        y = layout.text_top + n * line + (line - mask.shape[0]) // 2
        paint_mask(img, mask, layout.pad + (inner - mask.shape[1]) // 2, y, _AMBER)
    if panel.qr is not None and layout.qr > 0:
        code = _qr_image(panel.qr, layout.qr)
        side = code.shape[0]
        x = layout.pad + (inner - side) // 2
        y = layout.qr_top + (layout.qr - side) // 2
        img[y : y + side, x : x + side] = code
    return img


def _line_mask(text: str, size: int, font: CjkFont | None) -> Image:
    """``text`` as a white-on-black mask ``size`` pixels tall, as wide as it runs."""
    if font is not None:
        sized = face(font, size)
        ascent, descent = sized.getmetrics()
        left, _, right, _ = sized.getbbox(text)
        canvas = PilImage.new("L", (max(1, round(right - left)), ascent + descent))
        ImageDraw.Draw(canvas).text((-left, 0), text, font=sized, fill=255)
        return np.asarray(canvas, np.uint8)
    return _hershey_line(text, size)


def _hershey_line(text: str, size: int) -> Image:
    """Without a CJK font: OpenCV's Hershey face for ASCII, a box for anything else."""
    scale = size / 30
    thickness = max(1, size // 12)
    cells: list[Image] = []
    for char in text:
        if char.isascii():
            (w, _), _ = cv2.getTextSize(char, cv2.FONT_HERSHEY_SIMPLEX, scale, thickness)
            cell = np.zeros((size, max(w, 1)), np.uint8)
            cv2.putText(
                cell,
                char,
                (0, round(size * 0.8)),
                cv2.FONT_HERSHEY_SIMPLEX,
                scale,
                255,
                thickness,
                cv2.LINE_AA,
            )
        else:
            cell = np.zeros((size, size), np.uint8)
            edge = max(1, size // 10)
            cv2.rectangle(cell, (edge, edge), (size - 1 - edge, size - 1 - edge), 255, thickness)
        cells.append(cell)
    return np.hstack(cells) if cells else np.zeros((size, 1), np.uint8)


def _qr_image(url: str, side: int) -> Image:
    """The QR code of ``url`` with its quiet zone, at most ``side`` pixels square."""
    modules = qr_modules(url, "m")
    scale = side // len(modules)
    colours = np.array([_LIT, _DARK], np.uint8)
    if scale >= 1:
        return np.asarray(colours[whole_pixels(modules, scale).astype(np.uint8)], np.uint8)
    small = colours[modules.astype(np.uint8)]
    return np.asarray(cv2.resize(small, (side, side), interpolation=cv2.INTER_AREA), np.uint8)
