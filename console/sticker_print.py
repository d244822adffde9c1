"""Drawing a lane's help sticker: an A6 card at 300 dpi with the QR code of its help page.

The driver reads it at arm's length, often at night, with a phone: the QR code is at
least 60 mm across at error correction level Q (a quarter of it may be dirt or glare),
drawn in whole pixels per module so no edge is blurred; the instructions are short and
in Chinese; the car park and lane names tell the seat, and whoever replaces the sticker,
which lane it belongs to.

Chinese needs a CJK font, which Pillow does not ship: :func:`find_cjk_font` takes the
system's (``gates.fonts``) that draws every character of the sticker's fixed text.
"""

from __future__ import annotations

import io
import math
from collections.abc import Iterable
from dataclasses import dataclass

import numpy as np
from PIL import Image, ImageDraw, ImageFont

from gates.fonts import FONT_PACKAGE, CjkFont, face, first_drawing, system_candidates
from gates.qrcodes import QUIET_MODULES, qr_modules, whole_pixels

from .errors import NotConfigured
from .sticker_format import StickerFormat

DPI = 300


def mm(length: float) -> int:
    """Pixels at 300 dpi."""
    return round(length * DPI / 25.4)


PAGE = (mm(105), mm(148))  # A6, portrait
MARGIN = mm(6)
QR_SIDE = mm(60)  # the least: modules are whole pixels, so it comes out a little larger
TEXT_WIDTH = PAGE[0] - 2 * MARGIN

HEADLINE = "需要帮助？"
CALL_TO_ACTION = "请用手机扫码呼叫远程坐席"
HOW_TO = ("扫码后点击「呼叫」", "坐席将为您服务 · 24小时")
FIXED_TEXT = HEADLINE + CALL_TO_ACTION + "".join(HOW_TO)


@dataclass(frozen=True, slots=True)
class Sticker:
    """What one printed sticker shows."""

    url: str
    lane_id: str
    lane_name: str
    car_park: str
    serial: int


class FontMissing(NotConfigured):
    code = "cjk_font_missing"


def find_cjk_font(candidates: Iterable[CjkFont] | None = None) -> CjkFont:
    """The first of ``candidates`` (default: :func:`gates.fonts.system_candidates`) that
    draws all of the sticker's fixed text; ``FontMissing`` naming the package to install
    if none does."""
    found = first_drawing(FIXED_TEXT, system_candidates() if candidates is None else candidates)
    if found is None:
        raise FontMissing(
            FontMissing.code,
            f"no font that draws Chinese was found: install {FONT_PACKAGE} "
            f"(apt-get install {FONT_PACKAGE}, or `make system-deps`)",
        )
    return found


def render_sticker(sticker: Sticker, fmt: StickerFormat, font: CjkFont) -> bytes:
    """The sticker as a PNG (300 dpi) or a one-page A6 PDF. CPU-bound (~0.1 s): on a
    running centre, call it on a thread."""
    image = draw_sticker(sticker, font)
    out = io.BytesIO()
    if fmt is StickerFormat.PNG:
        image.save(out, "PNG", dpi=(DPI, DPI))
    else:
        # Pillow keeps a grey picture in a PDF as JPEG; at this quality the QR code's
        # edges stay sharp.
        image.save(out, "PDF", resolution=float(DPI), quality=95)
    return out.getvalue()


def draw_sticker(sticker: Sticker, font: CjkFont) -> Image.Image:
    """Raises ``ValueError`` if the text would run off the card (it does not for names
    of the 64 characters ``seat lanes add`` allows)."""
    image = Image.new("L", PAGE, 255)
    draw = ImageDraw.Draw(image)
    width, height = PAGE

    band = mm(20)
    draw.rectangle((0, 0, width, band), fill=0)
    _centred(draw, HEADLINE, face(font, 120), band // 2, fill=255, stroke=2)
    y = band + mm(3)
    y = _lines(draw, [CALL_TO_ACTION], face(font, 68), y)

    qr = _qr_image(sticker.url)
    image.paste(qr, ((width - qr.width) // 2, y))
    y += qr.height

    y = _lines(draw, list(HOW_TO), face(font, 56), y)
    y += mm(2)
    draw.line((MARGIN, y, width - MARGIN, y), fill=160, width=3)
    y += mm(2)
    for name in (sticker.car_park, sticker.lane_name):
        y = _lines(draw, *_fit(font, name, sizes=(56, 48, 40, 32)), y)
    footer = f"{sticker.lane_id} · #{sticker.serial}"
    y = _lines(draw, *_fit(font, footer, sizes=(32, 28, 24)), y, fill=96)
    if y > height - MARGIN:
        raise ValueError(f"the sticker's text runs {y - (height - MARGIN)} px past the card")
    return image


def _qr_image(url: str) -> Image.Image:
    """The QR code with its quiet zone, each module a whole number of pixels."""
    modules = qr_modules(url, "q")
    scale = math.ceil(QR_SIDE / (len(modules) - 2 * QUIET_MODULES))
    if len(modules) * scale > PAGE[0]:
        raise ValueError(f"the URL is too long for a sticker's QR code: {len(url)} characters")
    return Image.fromarray(np.where(whole_pixels(modules, scale), 0, 255).astype(np.uint8), "L")


def _lines(
    draw: ImageDraw.ImageDraw,
    lines: list[str],
    face: ImageFont.FreeTypeFont,
    y: int,
    fill: int = 0,
) -> int:
    """Each line centred below ``y``; returns the y below the last. ``ValueError`` for
    a line wider than the card's text: nothing is cut off unseen."""
    step = round(face.size * 1.25)
    for line in lines:
        if face.getlength(line) > TEXT_WIDTH:
            raise ValueError(f"a line of the sticker is wider than the card: {line!r}")
        _centred(draw, line, face, y + step // 2, fill=fill)
        y += step
    return y


def _centred(
    draw: ImageDraw.ImageDraw,
    text: str,
    face: ImageFont.FreeTypeFont,
    y: int,
    *,
    fill: int,
    stroke: int = 0,
) -> None:
    """``text`` centred on the card's middle line at height ``y``."""
    draw.text(
        (PAGE[0] // 2, y),
        text,
        font=face,
        fill=fill,
        anchor="mm",
        stroke_width=stroke,
        stroke_fill=fill,
    )


def _fit(
    font: CjkFont, text: str, sizes: tuple[int, ...]
) -> tuple[list[str], ImageFont.FreeTypeFont]:
    """``text`` wrapped at the largest of ``sizes`` at which it takes at most two lines
    (at the smallest if none)."""
    for size in sizes:
        sized = face(font, size)
        lines = _wrap(text, sized)
        if len(lines) <= 2:
            break
    return lines, sized


def _wrap(text: str, face: ImageFont.FreeTypeFont) -> list[str]:
    """Greedy, by character: Chinese has no spaces to break at."""
    lines = [""]
    for char in text:
        if lines[-1] and face.getlength(lines[-1] + char) > TEXT_WIDTH:
            lines.append("")
        lines[-1] += char
    return [line.strip() for line in lines]
