"""The file formats a help sticker is printed in, apart from the drawing
(``sticker_print.py``): the ``seat`` command line offers them as choices, and every
command builds that parser without loading numpy and Pillow."""

from __future__ import annotations

import enum


class StickerFormat(enum.StrEnum):
    PNG = "png"
    PDF = "pdf"  # one A6 page holding the 300-dpi picture

    @property
    def media_type(self) -> str:
        return "image/png" if self is StickerFormat.PNG else "application/pdf"
