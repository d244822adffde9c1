"""The simulated plates carry their real Chinese characters when the system has a Chinese
font, so a reader (an agent, an OCR test) can tell 京 from 津; without one, the framed
province codes they carried before, and the lane says so once."""

from __future__ import annotations

import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import cv2
import numpy as np
import numpy.typing as npt
import pytest

from gates.fonts import FONT_ENV, FONT_PACKAGE, CjkFont, glyph_mask
from gates.lane.plate_art import plate_font
from gates.lane.snapshot import render
from gates.plates import PROVINCES
from gates.vocabulary import PlateColour
from tests.pictures import decoded

Image = npt.NDArray[np.uint8]
AT = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)
SHAPE = (32, 64)  # width, height every glyph is compared at


@pytest.fixture
def font() -> CjkFont:
    found = plate_font()
    assert found is not None, f"no Chinese font: install {FONT_PACKAGE} (`make system-deps`)"
    return found


@pytest.fixture
def no_font(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[None]:
    """A lane whose configured font file is not there."""
    monkeypatch.setenv(FONT_ENV, str(tmp_path / "missing.ttc"))
    plate_font.cache_clear()
    yield
    monkeypatch.delenv(FONT_ENV)
    plate_font.cache_clear()  # the next test finds the system's font again


def province_cell(plate: str) -> Image:
    """The first character's ink on a rendered blue plate (white on blue), cut to its
    bounds and scaled to ``SHAPE``, as an OCR engine's segmenter would hand it over."""
    snap = render(plate, PlateColour.BLUE, gate_angle=0.0, at=AT, seed=1, size=(1920, 1080))
    image = decoded(snap.jpeg, cv2.IMREAD_GRAYSCALE)
    x, y, w, h = snap.box
    # The first cell, inside the plate's frame line: characters stand within 16-84 % of
    # the height, the province within 5-15 % of the width (the letter from 17 %).
    cell = image[y + h * 12 // 100 : y + h * 88 // 100, x + w * 3 // 100 : x + w * 16 // 100]
    _, ink = cv2.threshold(cell, 0, 255, cv2.THRESH_BINARY | cv2.THRESH_OTSU)
    ys, xs = np.nonzero(ink)
    bounded = ink[ys.min() : ys.max() + 1, xs.min() : xs.max() + 1]
    return np.asarray(cv2.resize(bounded, SHAPE, interpolation=cv2.INTER_AREA), np.uint8)


def read_province(cell: Image, font: CjkFont) -> tuple[str, float]:
    """The province whose glyph correlates best with ``cell``, and how well."""
    scores = {
        char: float(
            cv2.matchTemplate(
                cell,
                cv2.resize(glyph_mask(font, char, 96, bold=2), SHAPE, interpolation=cv2.INTER_AREA),
                cv2.TM_CCOEFF_NORMED,
            )[0, 0]
        )
        for char in PROVINCES
    }
    best = max(scores, key=lambda c: scores[c])
    return best, scores[best]


@pytest.mark.parametrize(
    "plate", ["京A12345", "津A12345", "冀C12345", "吉A12345", "沪A12345", "粤B12345"]
)
def test_the_province_is_drawn_as_its_chinese_character(font: CjkFont, plate: str) -> None:
    """Matched against all 31 provinces' glyphs, the plate's first character reads as
    its own province, look-alikes (京/津) and same-sounding ones (冀/吉) included."""
    read, score = read_province(province_cell(plate), font)
    assert read == plate[0]
    assert score > 0.8


def test_without_the_font_the_province_code_is_drawn_and_logged_once(
    font: CjkFont, no_font: None, caplog: pytest.LogCaptureFixture
) -> None:
    """A missing font file falls back to the framed code (京 as BJ), which reads as no
    province; the lane logs the missing font once, not per picture."""
    with caplog.at_level(logging.WARNING, logger="seat.lane"):
        fallback = province_cell("京A12345")
        province_cell("津A12345")
    missing = [
        r.getMessage() for r in caplog.records if "lane.snapshot.font_missing" in r.getMessage()
    ]
    assert len(missing) == 1
    assert FONT_PACKAGE in missing[0] and "missing.ttc" in missing[0]
    read, score = read_province(fallback, font)
    assert score < 0.5, read


def test_the_font_changes_only_the_chinese_characters(font: CjkFont, no_font: None) -> None:
    """Rendered with and without the font, the plates differ in the province's cell and
    nowhere else: the letters and digits are drawn as before."""
    without = render("京A12345", PlateColour.BLUE, gate_angle=0.0, at=AT, seed=1, size=(1920, 1080))
    plate_font.cache_clear()
    with pytest.MonkeyPatch.context() as patch:
        patch.delenv(FONT_ENV)
        with_font = render(
            "京A12345", PlateColour.BLUE, gate_angle=0.0, at=AT, seed=1, size=(1920, 1080)
        )
    assert with_font.box == without.box
    x, y, w, h = with_font.box
    a = decoded(with_font.jpeg, cv2.IMREAD_GRAYSCALE)
    b = decoded(without.jpeg, cv2.IMREAD_GRAYSCALE)
    diff = np.abs(a[y : y + h, x : x + w].astype(int) - b[y : y + h, x : x + w])
    split = w * 3 // 20  # past the first cell (and JPEG's 8-pixel blocks around it)
    assert diff[:, :split].mean() > 20
    assert diff[:, split:].mean() < 1
