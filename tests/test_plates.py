"""GA 36-2018 plate rules, checked against literal plates."""

from __future__ import annotations

import random

import pytest

from gates.plates import (
    LOOKALIKES,
    PROVINCE_CODES,
    PROVINCES,
    PlateCheck,
    PlateError,
    PlateKind,
    check,
    colour_of,
    fold,
    is_new_energy,
    is_valid,
    lookalike,
    misread,
    normalise,
    random_plate,
)
from gates.vocabulary import PlateColour


@pytest.mark.parametrize(
    ("plate", "kind"),
    [
        ("京A12345", PlateKind.ORDINARY),
        ("粤BA1234", PlateKind.ORDINARY),  # letters may appear anywhere in the serial
        ("沪AB12C3", PlateKind.ORDINARY),
        ("琼E9999Z", PlateKind.ORDINARY),
        ("陕O13135", PlateKind.ORDINARY),  # O is an authority letter, only serials skip it
        ("苏E1234挂", PlateKind.TRAILER),
        ("粤B1234学", PlateKind.COACH),
        ("京A1234警", PlateKind.POLICE),
        ("陕O1313警", PlateKind.POLICE),  # a provincial public security department
        ("沪AB013警", PlateKind.POLICE),  # a procuratorate: system letter B, three digits
        ("粤Z1234港", PlateKind.HONG_KONG),
        ("粤ZR057澳", PlateKind.MACAO),
        ("沪A1234领", PlateKind.CONSULATE),
        ("使224009", PlateKind.EMBASSY),
        ("京X1234应急", PlateKind.EMERGENCY),
        ("粤BD12345", PlateKind.NEW_ENERGY_SMALL),  # small, pure electric
        ("粤BF12345", PlateKind.NEW_ENERGY_SMALL),  # small, other new energy
        ("沪AAB1234", PlateKind.NEW_ENERGY_SMALL),  # extended pure-electric series
        ("京AK98765", PlateKind.NEW_ENERGY_SMALL),  # extended other series
        ("粤BEF1234", PlateKind.NEW_ENERGY_SMALL),
        ("粤B12345D", PlateKind.NEW_ENERGY_LARGE),  # large, pure electric
        ("鲁C54321F", PlateKind.NEW_ENERGY_LARGE),  # large, other new energy
    ],
)
def test_every_kind_of_plate_the_car_park_accepts_is_valid(plate: str, kind: PlateKind) -> None:
    """Each GA 36-2018 series (and the 应急 plates) is recognised as what it is."""
    assert check(plate) == PlateCheck(valid=True, kind=kind, error=None, position=None)
    assert is_valid(plate)
    new_energy = kind in (PlateKind.NEW_ENERGY_SMALL, PlateKind.NEW_ENERGY_LARGE)
    assert is_new_energy(plate) is new_energy


@pytest.mark.parametrize(
    ("plate", "error", "position", "why"),
    [
        ("京I12345", PlateError.AUTHORITY, 1, "no authority letter I"),
        ("京A1234O", PlateError.CHARACTER, 6, "serial letter O"),
        ("京AI2345", PlateError.CHARACTER, 2, "serial letter I"),
        ("京A1234", PlateError.LENGTH, None, "too short"),
        ("京A123456D", PlateError.LENGTH, None, "too long for any format"),
        ("", PlateError.LENGTH, None, "empty"),
        ("ZZ12345", PlateError.PROVINCE, 0, "no province"),
        ("台A12345", PlateError.PROVINCE, 0, "not a mainland province"),
        ("晥A12345", PlateError.PROVINCE, 0, "a camera's look-alike, not a province"),
        ("京112345", PlateError.AUTHORITY, 1, "authority must be a letter"),
        ("京a12345", PlateError.AUTHORITY, 1, "not normalised"),
        ("京A·1234", PlateError.CHARACTER, 2, "not normalised"),
        ("京A123学4", PlateError.CHARACTER, 5, "a series character only in the last place"),
        ("京A1234军", PlateError.CHARACTER, 6, "military plates are not GA 36-2018"),
        ("苏E12O4挂", PlateError.CHARACTER, 4, "no O in a trailer's serial"),
        ("粤BI234学", PlateError.CHARACTER, 2, "no I in a learner car's serial"),
        ("京A123警", PlateError.LENGTH, None, "a police serial has four characters"),
        ("粤B1234港", PlateError.AUTHORITY, 1, "港 is issued only as 粤Z"),
        ("澳Z1234澳", PlateError.PROVINCE, 0, "Macao cross-border plates are 粤Z"),
        ("粤ZO234港", PlateError.CHARACTER, 2, "no O in a cross-border serial"),
        ("京A123X领", PlateError.DIGIT, 5, "a consulate's serial is four digits"),
        ("使22400A", PlateError.DIGIT, 6, "an embassy's number is six digits"),
        ("京X123A应急", PlateError.DIGIT, 5, "a rescue team's serial is four digits"),
        ("粤BL12345", PlateError.ENERGY, 2, "L is no energy letter"),
        ("粤BDI1234", PlateError.CHARACTER, 3, "I in a new-energy serial"),
        ("粤BD1234A", PlateError.DIGIT, 7, "small new-energy plates end in four digits"),
        ("粤B1234AD", PlateError.DIGIT, 6, "large new-energy plates start with five digits"),
        ("粤B12345L", PlateError.ENERGY, 7, "L is no energy letter"),
        ("浙A12345G", PlateError.ENERGY, 7, "the extended letters are for small vehicles only"),
        ("京A123456", PlateError.ENERGY, 7, "eight characters but not new energy"),
    ],
)
def test_a_plate_breaking_the_format_says_where(
    plate: str, error: PlateError, position: int | None, why: str
) -> None:
    """Anything GA 36-2018 cannot issue is refused, naming its first wrong character."""
    assert check(plate) == PlateCheck(valid=False, kind=None, error=error, position=position), why
    assert not is_valid(plate)
    assert not is_new_energy(plate)


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
        ("沪A1234领", PlateColour.BLACK),
        ("使224009", PlateColour.BLACK),
        ("京X1234应急", PlateColour.WHITE),
        ("京A12345", PlateColour.BLUE),
        ("京A1234", PlateColour.UNKNOWN),
    ],
)
def test_colour_follows_from_the_plate(plate: str, colour: PlateColour) -> None:
    """New-energy and special series imply their background colour."""
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


def test_every_character_is_in_at_most_one_lookalike_group() -> None:
    """Look-alike groups are classes: a character belongs to one, so folding is well defined."""
    characters = "".join(LOOKALIKES)
    assert len(characters) == len(set(characters))
    assert all(len(group) >= 2 for group in LOOKALIKES)


def test_fold_makes_lookalike_reads_of_one_plate_equal() -> None:
    """Two reads differing only by look-alikes fold to one text; other differences stay."""
    assert fold("京A0B125") == fold("津AD8I25") == fold("京AQ8T25")
    assert fold("京A08125") != fold("京A08126")
    assert fold("粤B12345") != fold("粤B1234")


def test_lookalike_pairs_are_two_different_characters_of_one_group() -> None:
    """0 and D are look-alikes, 0 and 7 are not, and nothing is its own look-alike."""
    assert lookalike("0", "D") and lookalike("D", "0")
    assert lookalike("京", "津")
    assert not lookalike("0", "7")
    assert not lookalike("0", "0")
    assert not lookalike("X", "Y")
