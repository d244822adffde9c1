"""Finding a font that draws Chinese, for the pictures both ends draw: the plates in the
simulated lane's camera and the centre's help stickers.

Pillow ships no CJK font, so the system's is used: Debian's ``fonts-wqy-zenhei`` (which
``make system-deps`` installs), Noto Sans CJK, Droid Sans Fallback, or whatever fontconfig
lists for Chinese; ``SEAT_CJK_FONT`` names one file instead of all those. A font is only
taken if it really draws every character asked of it, not the empty box a font draws for
a character it lacks.
"""

from __future__ import annotations

import functools
import math
import os
import subprocess
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Final

import numpy as np
import numpy.typing as npt
from PIL import Image, ImageDraw, ImageFont

FONT_PACKAGE: Final = "fonts-wqy-zenhei"
FONT_ENV: Final = "SEAT_CJK_FONT"


@dataclass(frozen=True, slots=True)
class CjkFont:
    """A font file, and which face in it (a ``.ttc`` holds several)."""

    path: Path
    index: int = 0


# Where Debian puts fonts that cover simplified Chinese, in order of preference.
KNOWN_FONTS: Final = (
    CjkFont(Path("/usr/share/fonts/truetype/wqy/wqy-zenhei.ttc")),  # fonts-wqy-zenhei
    CjkFont(Path("/usr/share/fonts/opentype/noto/NotoSansCJK-Regular.ttc"), 2),  # the SC face
    CjkFont(Path("/usr/share/fonts/truetype/droid/DroidSansFallbackFull.ttf")),
)


def first_drawing(text: str, candidates: Iterable[CjkFont]) -> CjkFont | None:
    """The first of ``candidates`` that exists and draws every character of ``text``."""
    for font in candidates:
        if font.path.is_file() and not missing_glyphs(face(font, 64), text):
            return font
    return None


def candidates(env: Mapping[str, str]) -> Iterator[CjkFont]:
    """The fonts to try: only the file ``SEAT_CJK_FONT`` names when it is set (face 0 of a
    ``.ttc``), else the known paths, then what fontconfig lists for Chinese."""
    named = env.get(FONT_ENV, "")
    if named:
        yield CjkFont(Path(named))
        return
    yield from KNOWN_FONTS
    try:
        listed = subprocess.run(
            ["fc-list", "-f", "%{file}\t%{index}\n", ":lang=zh-cn"],
            capture_output=True,
            text=True,
            timeout=10,
            check=True,
        ).stdout
    except (OSError, subprocess.SubprocessError):
        return  # no fontconfig: the known paths were all there was
    for line in sorted(listed.splitlines()):
        path, _, index = line.partition("\t")
        if index.isdecimal():
            yield CjkFont(Path(path), int(index))


def system_candidates() -> Iterator[CjkFont]:
    """:func:`candidates` under this process's environment."""
    return candidates(os.environ)


def missing_glyphs(face: ImageFont.FreeTypeFont, text: str) -> str:
    """The characters of ``text`` that ``face`` would draw as nothing or as the glyph
    it draws for a character it does not have (its .notdef, usually a box)."""
    notdef = _ink(face, "\U0010fffd")  # a private-use code point no font maps
    return "".join(sorted({c for c in text if not c.isspace() and _ink(face, c) in (None, notdef)}))


@functools.lru_cache(maxsize=32)
def face(font: CjkFont, size: int) -> ImageFont.FreeTypeFont:
    """``font`` loaded at ``size`` pixels; loaded once per size, as a file read is slow."""
    return ImageFont.truetype(str(font.path), size, index=font.index)


@functools.lru_cache(maxsize=128)
def glyph_mask(font: CjkFont, char: str, size: int = 96, bold: int = 0) -> npt.NDArray[np.uint8]:
    """``char`` drawn white on black at ``size`` pixels, emboldened by ``bold`` pixels,
    and cut to its ink; callers scale it to their cell (and must not modify it: it is
    shared)."""
    sized = face(font, size)
    left, top, right, bottom = (int(v) for v in sized.getbbox(char, stroke_width=bold))
    canvas = Image.new("L", (max(right - left, 1), max(bottom - top, 1)))
    ImageDraw.Draw(canvas).text(
        (-left, -top), char, font=sized, fill=255, stroke_width=bold, stroke_fill=255
    )
    return np.asarray(canvas, np.uint8)


def _ink(face: ImageFont.FreeTypeFont, char: str) -> bytes | None:
    """The pixels ``face`` draws for ``char``, or None if it draws none."""
    left, top, right, bottom = face.getbbox(char)
    if right <= left or bottom <= top:
        return None
    image = Image.new("L", (math.ceil(right), math.ceil(bottom)))
    ImageDraw.Draw(image).text((0, 0), char, font=face, fill=255)
    return image.tobytes() if image.getbbox() else None
