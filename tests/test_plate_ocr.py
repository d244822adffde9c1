"""The OCR's second reading of a plate: its text made a plate (no model), and the real
model, loaded once for the module, reading the enhanced crops of the simulator's
snapshots, whose plates carry their real Chinese province character."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime

import numpy as np
import pytest

from gates.lane.plate_art import plate_font
from gates.lane.snapshot import render
from gates.vocabulary import PlateColour
from media.errors import PlateImageError
from media.plates.crop import Image
from media.plates.ocr import UNREADABLE, Line, PlateReader, reading_of
from media.plates.readable import readable
from media.plates.reading import PlateReading
from tests.pictures import decoded

DAY = datetime(2025, 6, 1, 2, 30, tzinfo=UTC)  # 10:30 in Beijing
NIGHT = datetime(2025, 6, 1, 14, 30, tzinfo=UTC)  # 22:30


def line(x: float, y: float, text: str, score: float = 0.9, w: float = 100, h: float = 40) -> Line:
    """A line of text the model read, in a box at (x, y) of ``w`` × ``h``."""
    return ([(x, y), (x + w, y), (x + w, y + h), (x, y + h)], text, score)


# ------------------------------------------------------------------ the text, as a plate


def test_the_dot_after_the_issuer_and_full_width_characters_are_spelt_as_stored() -> None:
    assert reading_of([line(0, 0, "粤Ｂ·１２３４５", 0.97)]) == PlateReading("粤B12345", 0.97)


def test_lines_of_one_row_read_left_to_right_whatever_order_they_came_in() -> None:
    lines = [line(120, 2, "12345", 0.95), line(0, 0, "京A", 0.9)]
    assert reading_of(lines) == PlateReading("京A12345", 0.9)


def test_a_double_row_plate_reads_its_issuer_above_before_its_serial_below() -> None:
    """GA 36-2018's rear plates of large vehicles carry the issuer on a row of its own."""
    lines = [line(0, 60, "12345", 0.93, w=300), line(80, 0, "鲁B", 0.91)]
    assert reading_of(lines) == PlateReading("鲁B12345", 0.91)


def test_the_frame_read_as_punctuation_is_left_out_and_a_stray_character_stays() -> None:
    """'|' and '[' are the plate's frame; 窖 is a misread 警 the plate rules point at."""
    assert reading_of([line(0, 0, "[京A·1234窖|", 0.8)]) == PlateReading("京A1234窖", 0.8)


def test_lines_the_model_is_unsure_of_are_left_out() -> None:
    lines = [line(0, 0, "粤B12345", 0.96), line(0, 60, "8", 0.3, w=20)]
    assert reading_of(lines) == PlateReading("粤B12345", 0.96)


@pytest.mark.parametrize(
    "lines",
    [[], [line(0, 0, "  ", 0.99)], [line(0, 0, "·-|", 0.99)], [line(0, 0, "粤B12345", 0.2)]],
)
def test_nothing_a_plate_could_hold_is_unreadable(lines: list[Line]) -> None:
    reading = reading_of(lines)
    assert reading == UNREADABLE
    assert (reading.plate, reading.confidence, reading.readable) == ("", 0.0, False)


# ------------------------------------------------------------------ the model


@pytest.fixture(scope="module")
def reader() -> Iterator[PlateReader]:
    """One model for the module: loading it takes a second or two."""
    yield PlateReader()


def enhanced_crop(plate: str, colour: PlateColour, at: datetime = DAY, seed: int = 3) -> Image:
    """The crop the centre reads: the simulator's snapshot as JPEG, decoded, cut by its
    box, levelled and enhanced."""
    snap = render(plate, colour, gate_angle=0.0, at=at, seed=seed, size=(1920, 1080))
    image = decoded(snap.jpeg)
    found = readable(np.asarray(image, np.uint8), snap.box)
    assert found is not None
    return found.image


def test_the_simulator_draws_the_province_as_its_chinese_character() -> None:
    """Without a CJK font the plates would carry Latin codes, and nothing here would
    test reading the province (``make system-deps`` installs one)."""
    assert plate_font() is not None


@pytest.mark.parametrize(
    ("plate", "colour", "at", "seed"),
    [
        ("粤B12345", PlateColour.BLUE, DAY, 3),
        ("沪C8Q2Z7", PlateColour.BLUE, NIGHT, 3),
        ("苏E5S61A", PlateColour.BLUE, DAY, 3),
        ("京A1234学", PlateColour.YELLOW, DAY, 3),
        ("鲁B8G4T0", PlateColour.YELLOW, NIGHT, 3),
        ("粤BD12345", PlateColour.GREEN, DAY, 3),
        ("川AF8K306", PlateColour.GREEN, NIGHT, 3),
        ("浙A12345F", PlateColour.YELLOW_GREEN, DAY, 3),
        ("京A1234警", PlateColour.WHITE, DAY, 3),
        # Where its red 警 stands furthest from the black characters.
        ("京A1234警", PlateColour.WHITE, NIGHT, 8),
    ],
)
def test_the_model_reads_a_clean_plate_right(
    reader: PlateReader, plate: str, colour: PlateColour, at: datetime, seed: int
) -> None:
    reading = reader.read(enhanced_crop(plate, colour, at, seed))
    assert reading.plate == plate
    assert 0.5 <= reading.confidence <= 1.0


def test_a_crop_with_no_characters_is_unreadable(reader: PlateReader) -> None:
    assert reader.read(np.full((120, 300, 3), (160, 90, 20), np.uint8)) == UNREADABLE


def test_the_model_loads_on_the_first_read_not_before() -> None:
    fresh = PlateReader()
    assert not fresh.loaded
    with pytest.raises(PlateImageError):
        fresh.read(np.zeros((120, 300), np.uint8))  # refused before anything is loaded
    assert not fresh.loaded


@pytest.mark.parametrize(
    "picture",
    [np.zeros((120, 300), np.uint8), np.zeros((120, 300, 3), np.float32), np.zeros((0, 300, 3))],
)
def test_a_picture_that_is_not_an_8_bit_colour_crop_is_refused(
    reader: PlateReader, picture: Image
) -> None:
    with pytest.raises(PlateImageError):
        reader.read(picture)


def test_a_reader_needs_a_thread() -> None:
    with pytest.raises(ValueError, match="at least 1 thread"):
        PlateReader(threads=0)
