"""GA 36-2018 plate rules, checked against literal plates."""

from __future__ import annotations

import random

import pytest

from gates.plates import (
    PROVINCE_CODES,
    PROVINCES,
    colour_of,
    is_new_energy,
    is_valid,
    misread,
    normalise,
    random_plate,
)
from gates.vocabulary import PlateColour


@pytest.mark.parametrize(
    "plate",
    [
        "京A12345",
        "粤BA1234",  # letters may appear anywhere in the serial
        "沪AB12C3",
        "琼E9999Z",
        "粤B1234学",
        "苏E1234挂",
        "京A1234警",
        "粤Z1234港",
        "粤Z1234澳",
    ],
)
def test_ordinary_and_special_plates_are_valid(plate: str) -> None:
    """Province, authority letter and five serial characters, or four and a suffix."""
    assert is_valid(plate)


@pytest.mark.parametrize(
    "plate",
    [
        "粤BD12345",  # small, pure electric
        "粤BF12345",  # small, other new energy
        "沪AAB1234",  # extended pure-electric series, letter second
        "京AK98765",
        "粤B12345D",  # large, pure electric
        "鲁C54321F",  # large, other new energy
        "浙A12345G",
    ],
)
def test_new_energy_plates_are_valid(plate: str) -> None:
    """Six serial characters with the series letter first (small) or last (large)."""
    assert is_valid(plate)
    assert is_new_energy(plate)


@pytest.mark.parametrize(
    ("plate", "why"),
    [
        ("京I12345", "authority letter I"),
        ("京O12345", "authority letter O"),
        ("京A1234O", "serial letter O"),
        ("京AI2345", "serial letter I"),
        ("京A1234", "too short"),
        ("京A123456", "eight characters but not new energy"),
        ("ZZ12345", "no province"),
        ("台A12345", "not a mainland province"),
        ("京112345", "authority must be a letter"),
        ("粤BL12345", "L is not a new-energy series letter"),
        ("粤BDI1234", "I in a new-energy serial"),
        ("粤BD1234A", "small new-energy plates end in four digits"),
        ("粤B1234AD", "large new-energy plates start with five digits"),
        ("粤B12345L", "L is not a new-energy series letter"),
        ("粤B1234港", "港 is issued only as 粤Z"),
        ("京A123学4", "suffix only in the last position"),
        ("京a12345", "not normalised"),
        ("京A·12345", "not normalised"),
        ("", "empty"),
    ],
)
def test_plates_breaking_the_format_are_invalid(plate: str, why: str) -> None:
    """Anything GA 36-2018 cannot issue is refused."""
    assert not is_valid(plate), why


def test_thirty_one_mainland_provinces() -> None:
    """GA 36-2018 issues plates in 31 provincial-level divisions."""
    assert len(PROVINCES) == 31
    assert len(set(PROVINCE_CODES.values())) == 31


@pytest.mark.parametrize(
    ("text", "plate"),
    [
        ("京A·12345", "京A12345"),
        ("粤b-d12345", "粤BD12345"),
        (" 沪 A 12345 ", "沪A12345"),
        ("京Ａ１２３４５", "京A12345"),  # full-width, as typed with a Chinese IME
        ("苏e.1234挂", "苏E1234挂"),
    ],
)
def test_normalise_strips_separators_and_uppercases(text: str, plate: str) -> None:
    """Plates typed or read with separators and lower case compare equal to the canonical."""
    assert normalise(text) == plate


@pytest.mark.parametrize(
    ("plate", "colour"),
    [
        ("粤BD12345", PlateColour.GREEN),
        ("粤B12345D", PlateColour.YELLOW_GREEN),
        ("京A1234警", PlateColour.WHITE),
        ("粤B1234学", PlateColour.YELLOW),
        ("苏E1234挂", PlateColour.YELLOW),
        ("粤Z1234港", PlateColour.BLACK),
        ("粤Z1234澳", PlateColour.BLACK),
        ("京A12345", PlateColour.BLUE),
        ("京A1234", PlateColour.UNKNOWN),
    ],
)
def test_colour_follows_from_the_plate(plate: str, colour: PlateColour) -> None:
    """New-energy and special series imply their GA 36-2018 background colour."""
    assert colour_of(plate) is colour


def test_colour_of_ordinary_plate_takes_the_cameras_word() -> None:
    """A truck's yellow plate has the same characters as a car's blue one."""
    assert colour_of("京A12345", PlateColour.YELLOW) is PlateColour.YELLOW
    assert colour_of("粤BD12345", PlateColour.YELLOW) is PlateColour.GREEN


def test_random_plates_are_valid_and_mostly_local() -> None:
    """Generated plates always pass the rules, and most carry the car park's own prefix."""
    rng = random.Random(7)
    plates = [random_plate(rng, home="粤B") for _ in range(2000)]
    assert all(is_valid(p) and not is_new_energy(p) for p in plates)
    local = sum(p.startswith("粤B") for p in plates) / len(plates)
    assert 0.6 < local < 0.8
    assert len({p[0] for p in plates}) > 10


def test_random_new_energy_plates_are_valid_new_energy() -> None:
    """Asking for new energy gives eight-character plates of both sizes."""
    rng = random.Random(8)
    plates = [random_plate(rng, new_energy=True, home="京A") for _ in range(1000)]
    assert all(is_valid(p) and is_new_energy(p) for p in plates)
    colours = {colour_of(p) for p in plates}
    assert colours == {PlateColour.GREEN, PlateColour.YELLOW_GREEN}


def test_random_plate_is_reproducible_from_the_seed() -> None:
    """A seeded simulation replays the same cars."""
    first = [random_plate(random.Random(3)) for _ in range(5)]
    second = [random_plate(random.Random(3)) for _ in range(5)]
    assert first == second


def test_random_plate_refuses_a_bad_home() -> None:
    """A typo in the car park's home prefix is caught, not silently generated from."""
    with pytest.raises(ValueError, match="home"):
        random_plate(random.Random(0), home="ZZ")


def test_misread_always_differs_from_the_truth() -> None:
    """A misread is a misread: the reported plate is never the true one."""
    rng = random.Random(11)
    for _ in range(2000):
        truth = random_plate(rng, new_energy=rng.random() < 0.3)
        assert misread(truth, rng) != truth


def test_misread_uses_lookalikes_and_sometimes_breaks_the_format() -> None:
    """Most misreads are one look-alike swap; some are no longer valid plates at all."""
    rng = random.Random(12)
    reads = [misread("京A08125", rng) for _ in range(500)]
    same_length = [r for r in reads if len(r) == len("京A08125")]
    assert len(same_length) > 300
    assert all(sum(a != b for a, b in zip(r, "京A08125", strict=True)) == 1 for r in same_length)
    assert {"津A08125", "京A0B125", "京AD8125", "京A08725"} <= set(reads)
    assert any(not is_valid(r) for r in reads)
    assert any(is_valid(r) for r in reads)
