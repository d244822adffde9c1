"""Chinese number plates as GA 36-2018 writes them, and the ways a camera gets them wrong.

The centre flags a plate read that breaks the national format (``plate_valid`` in the
lane's status: the camera misread it, and an agent should look), and ``check`` says
which character of a plate is wrong, for refusing an agent's correction; the simulator needs
plausible plates and plausible misreads, the snapshot renderer the background colour,
and re-matching an exit to its entry which characters a camera mistakes for which. All
of it is text in, text out: no I/O.

Every format is written once, in ``_FORMATS``, as the characters each position may
hold; ``check``, ``is_valid``, ``is_new_energy`` and ``colour_of`` all read that table.

Which plates a car park accepts: every vehicle plate the traffic police issue under GA
36-2018 that a car can drive in on — ordinary blue and yellow plates, both new-energy
plates, trailers (挂), learner cars (学), police (警), Hong Kong and Macao cross-border
cars (粤Z…港/澳), consulates (…领) and embassies (使…) — and the white 应急 plates of
the national fire and rescue teams (国办发〔2018〕114号), which are not GA 36 plates but
park like any car. Left out on purpose: military (军) and armed police (WJ) plates,
issued by the armed forces under their own rules and not GA 36; and the paper plates
(临时行驶, 试, 超), whose numbers follow no format worth checking. A car with one of those
is still let out by an agent: only the plate field refuses them.

The rules follow GA 36-2018 as its clauses are quoted in public references (the
standard's own text is not freely published); the one rule resting on a single such
quotation is flagged where it is written.
"""

from __future__ import annotations

import enum
import random
import re
import unicodedata
from dataclasses import dataclass
from typing import Final

from gates.vocabulary import PlateColour

# GA 36-2018: the abbreviations of the 31 mainland provincial-level divisions, mapped to
# their ISO 3166-2:CN codes. Without a Chinese font (``gates.fonts``) the snapshot draws the
# code; unlike the pinyin of the abbreviation (冀/吉 are both "ji") the codes never collide.
PROVINCE_CODES: Final[dict[str, str]] = {
    "京": "BJ",
    "津": "TJ",
    "沪": "SH",
    "渝": "CQ",
    "冀": "HE",
    "豫": "HA",
    "云": "YN",
    "辽": "LN",
    "黑": "HL",
    "湘": "HN",
    "皖": "AH",
    "鲁": "SD",
    "新": "XJ",
    "苏": "JS",
    "浙": "ZJ",
    "赣": "JX",
    "鄂": "HB",
    "桂": "GX",
    "甘": "GS",
    "晋": "SX",
    "蒙": "NM",
    "陕": "SN",
    "吉": "JL",
    "闽": "FJ",
    "贵": "GZ",
    "粤": "GD",
    "青": "QH",
    "藏": "XZ",
    "川": "SC",
    "宁": "NX",
    "琼": "HI",
}
PROVINCES: Final[str] = "".join(PROVINCE_CODES)

# The Chinese characters of the special series, and how the renderer spells them without a
# Chinese font.
SERIES_CODES: Final[dict[str, str]] = {
    "挂": "GUA",  # trailer
    "学": "XUE",  # learner (coach) car
    "警": "JING",  # police
    "港": "GANG",  # Hong Kong cross-border, issued as 粤Z only
    "澳": "AO",  # Macao cross-border, issued as 粤Z only
    "领": "LING",  # consulate
    "使": "SHI",  # embassy, first on the plate
    "应": "YING",  # 应急, fire and rescue
    "急": "JI",
}

# GA 36-2018 leaves I and O out of every serial so they never pass for 1 and 0.
_LETTERS: Final[str] = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DIGITS: Final[str] = "0123456789"
_SERIAL: Final[str] = _LETTERS + _DIGITS
# The issuing authority's letter (发牌机关代号) is not a serial: O is in use there, for the
# provincial public security department and other province-level bodies (陕O…警);
# no authority has I.
_AUTHORITIES: Final[str] = _LETTERS + "O"
# GA 36-2018 gives new-energy plates six serial characters and an energy letter. A small
# vehicle's serial opens with it — D, A, B, C or E pure electric, F, G, H, J or K any
# other new energy (D and F are issued first, the others as each runs out) — then a
# letter or digit and four digits. A large vehicle's serial is five digits and then D or
# F: the extended letters are for small vehicles only (the single quotation: if large
# vehicles get them too, add them to _ENERGY_LARGE).
_ENERGY_SMALL: Final[str] = "DABCEFGHJK"
_ENERGY_LARGE: Final[str] = "DF"


class PlateKind(enum.StrEnum):
    ORDINARY = "ordinary"  # blue (small) or yellow (large): only the camera sees which
    NEW_ENERGY_SMALL = "new_energy_small"
    NEW_ENERGY_LARGE = "new_energy_large"
    TRAILER = "trailer"
    COACH = "coach"
    POLICE = "police"
    HONG_KONG = "hong_kong"
    MACAO = "macao"
    CONSULATE = "consulate"
    EMBASSY = "embassy"
    EMERGENCY = "emergency"


class PlateError(enum.StrEnum):
    """What is wrong with the first wrong character of a plate, or with its length."""

    LENGTH = "wrong_length"
    PROVINCE = "not_a_province"
    AUTHORITY = "not_an_authority"
    CHARACTER = "not_a_serial_character"  # I, O, lower case, punctuation, a stray 汉字
    DIGIT = "not_a_digit"
    ENERGY = "not_an_energy_letter"
    SERIES = "wrong_series_character"  # 港 outside 粤Z, 学 not last, …


@dataclass(frozen=True, slots=True)
class _Slot:
    allowed: str
    error: PlateError


_PROVINCE = _Slot(PROVINCES, PlateError.PROVINCE)
_AUTHORITY = _Slot(_AUTHORITIES, PlateError.AUTHORITY)
_CHAR = _Slot(_SERIAL, PlateError.CHARACTER)
_DIGIT = _Slot(_DIGITS, PlateError.DIGIT)


def _series(character: str) -> _Slot:
    return _Slot(character, PlateError.SERIES)


# A province and its issuing authority open most plates; cross-border ones are 粤Z only.
_ISSUER = (_PROVINCE, _AUTHORITY)
_CROSS_BORDER = (_Slot("粤", PlateError.PROVINCE), _Slot("Z", PlateError.AUTHORITY))
_ENERGY_FIRST = _Slot(_ENERGY_SMALL, PlateError.ENERGY)
_ENERGY_LAST = _Slot(_ENERGY_LARGE, PlateError.ENERGY)

# Every plate the car park accepts, position by position. When a plate fits none, the
# format it agrees with most names the wrong character: a matching series character
# (港, 领, 使…) counts twice, since it names its series (粤B1234港 is told its B should be
# Z, not that 港 cannot end an ordinary plate); on a tie, the format the plate follows
# furthest from the left, then the first listed.
_FORMATS: Final[tuple[tuple[PlateKind, tuple[_Slot, ...]], ...]] = (
    (PlateKind.ORDINARY, (*_ISSUER, _CHAR, _CHAR, _CHAR, _CHAR, _CHAR)),
    (PlateKind.TRAILER, (*_ISSUER, _CHAR, _CHAR, _CHAR, _CHAR, _series("挂"))),
    (PlateKind.COACH, (*_ISSUER, _CHAR, _CHAR, _CHAR, _CHAR, _series("学"))),
    # Public security uses four digits, courts, procuratorates, state security and
    # justice a system letter A-D and three digits; the rest is left to each province,
    # so any serial character is accepted.
    (PlateKind.POLICE, (*_ISSUER, _CHAR, _CHAR, _CHAR, _CHAR, _series("警"))),
    (PlateKind.HONG_KONG, (*_CROSS_BORDER, _CHAR, _CHAR, _CHAR, _CHAR, _series("港"))),
    (PlateKind.MACAO, (*_CROSS_BORDER, _CHAR, _CHAR, _CHAR, _CHAR, _series("澳"))),
    # The consulate's city and four digits, 领 in red last.
    (PlateKind.CONSULATE, (*_ISSUER, _DIGIT, _DIGIT, _DIGIT, _DIGIT, _series("领"))),
    # 使 first, then the country's three-digit code and a three-digit serial (使224·009):
    # no province, no authority.
    (PlateKind.EMBASSY, (_series("使"), _DIGIT, _DIGIT, _DIGIT, _DIGIT, _DIGIT, _DIGIT)),
    (PlateKind.NEW_ENERGY_SMALL, (*_ISSUER, _ENERGY_FIRST, _CHAR, _DIGIT, _DIGIT, _DIGIT, _DIGIT)),
    (PlateKind.NEW_ENERGY_LARGE, (*_ISSUER, _DIGIT, _DIGIT, _DIGIT, _DIGIT, _DIGIT, _ENERGY_LAST)),
    # 国办发〔2018〕114号: province, the rescue team's code, four digits, then 应急.
    (
        PlateKind.EMERGENCY,
        (_PROVINCE, _CHAR, _DIGIT, _DIGIT, _DIGIT, _DIGIT, _series("应"), _series("急")),
    ),
)


def _agreement(plate: str, slots: tuple[_Slot, ...]) -> tuple[int, int]:
    """How much ``plate`` agrees with a format of its length, and its first wrong index
    (its length when none is wrong)."""
    agreed, first_wrong = 0, len(plate)
    for i, (ch, slot) in enumerate(zip(plate, slots, strict=True)):
        if ch in slot.allowed:
            agreed += 2 if slot.error is PlateError.SERIES else 1
        elif first_wrong == len(plate):
            first_wrong = i
    return agreed, first_wrong


@dataclass(frozen=True, slots=True)
class PlateCheck:
    """A plate's verdict: its kind when valid; otherwise what is wrong, and where.

    ``position`` is the 0-based index of the first wrong character, ``None`` when the
    plate has a length no format has (then nothing can be pointed at).
    """

    valid: bool
    kind: PlateKind | None
    error: PlateError | None
    position: int | None


def check(plate: str) -> PlateCheck:
    """Whether the car park accepts ``plate`` (already normalised; the module docstring
    says which plates), and if not, why."""
    best: tuple[int, int] | None = None
    error = PlateError.LENGTH
    for kind, slots in _FORMATS:
        if len(slots) != len(plate):
            continue
        agreement = _agreement(plate, slots)
        if agreement[1] == len(plate):
            return PlateCheck(valid=True, kind=kind, error=None, position=None)
        if best is None or agreement > best:
            best, error = agreement, slots[agreement[1]].error
    return PlateCheck(False, None, error, None if best is None else best[1])


# The longest plate text anyone may send (a lane's read, an agent's correction), with the
# separators people type: the longest plate is 8 characters, "粤B·D1234 5" is 11.
PLATE_MAX = 16

# Separators people and cameras put into plates: "京A·12345", "粤B-D12345", "沪 A 12345".
_SEPARATORS = re.compile(r"[\s.\-_·•・‧∙]+")


def normalise(text: str) -> str:
    """The canonical spelling a plate is stored and compared under.

    Full-width letters and digits (common from Chinese input methods) fold to ASCII, so
    "京Ａ１２３４５" and "京a 12345" both become "京A12345".
    """
    folded = unicodedata.normalize("NFKC", text)
    stripped = _SEPARATORS.sub("", folded)
    return "".join(ch.upper() if ch.isascii() else ch for ch in stripped)


def is_valid(plate: str) -> bool:
    """Whether the car park accepts ``plate`` (already normalised): ``check(plate).valid``."""
    return check(plate).valid


def is_new_energy(plate: str) -> bool:
    """New-energy plates have one more character; billing policies often treat them apart."""
    return check(plate).kind in (PlateKind.NEW_ENERGY_SMALL, PlateKind.NEW_ENERGY_LARGE)


# GA 36-2018's background colours; 应急 plates are white (国办发〔2018〕114号).
_COLOURS: Final[dict[PlateKind, PlateColour]] = {
    PlateKind.NEW_ENERGY_SMALL: PlateColour.GREEN,
    PlateKind.NEW_ENERGY_LARGE: PlateColour.YELLOW_GREEN,
    PlateKind.TRAILER: PlateColour.YELLOW,
    PlateKind.COACH: PlateColour.YELLOW,
    PlateKind.POLICE: PlateColour.WHITE,
    PlateKind.EMERGENCY: PlateColour.WHITE,
    PlateKind.HONG_KONG: PlateColour.BLACK,
    PlateKind.MACAO: PlateColour.BLACK,
    PlateKind.CONSULATE: PlateColour.BLACK,
    PlateKind.EMBASSY: PlateColour.BLACK,
}


def colour_of(plate: str, default: PlateColour = PlateColour.BLUE) -> PlateColour:
    """The background colour the text of a plate implies.

    An ordinary plate is blue on a car and yellow on a truck with the same characters, so
    only the caller (the camera, which sees the colour) can tell; ``default`` is its word.
    """
    kind = check(plate).kind
    if kind is None:
        return PlateColour.UNKNOWN
    return _COLOURS.get(kind, default)


def random_plate(rng: random.Random, *, new_energy: bool = False, home: str = "粤B") -> str:
    """A plausible plate for a car at a car park whose local plates start with ``home``.

    Most cars at a car park are local: about 70 % carry the home prefix, 15 % another
    authority of the same province, 15 % come from elsewhere.
    """
    if len(home) != 2 or home[0] not in PROVINCE_CODES or home[1] not in _AUTHORITIES:
        raise ValueError(f"home must be a province and an authority letter, not {home!r}")
    roll = rng.random()
    if roll < 0.70:
        prefix = home
    elif roll < 0.85:
        prefix = home[0] + rng.choice(_LETTERS.replace("Z", ""))
    else:
        prefix = rng.choice(PROVINCES) + rng.choice(_LETTERS[:12])
    if not new_energy:
        return prefix + _ordinary_serial(rng)
    if rng.random() < 0.9:
        # Mostly small cars; pure electric (D) outnumbers the rest.
        series = "D" if rng.random() < 0.6 else rng.choice(_ENERGY_SMALL)
        second = rng.choice(_DIGITS) if rng.random() < 0.7 else rng.choice(_LETTERS)
        return prefix + series + second + "".join(rng.choices(_DIGITS, k=4))
    return prefix + "".join(rng.choices(_DIGITS, k=5)) + rng.choice(_ENERGY_LARGE)


def _ordinary_serial(rng: random.Random) -> str:
    # Issued serials are mostly digits with a letter or two; owners who choose their own
    # number rarely get more than two letters.
    serial = rng.choices(_DIGITS, k=5)
    for position in rng.sample(range(5), k=rng.choice((0, 0, 1, 1, 1, 2))):
        serial[position] = rng.choice(_LETTERS)
    return "".join(serial)


# Characters an LPR engine mistakes for one another, each group a class: a camera reads
# any member of a group as any other. Shapes first (0/D/Q/O, 1/I/7/T…), then province
# characters that differ by a stroke or a radical; some of those (晥, 贛, 赤, 翼, 泸, 淅,
# 闵) are not provinces at all, but engines trained on them do emit them.
LOOKALIKES: Final[tuple[str, ...]] = (
    "0DQO",
    "8B",
    "2Z",
    "5S",
    "1I7T",
    "6G",
    "4A",
    "EF",
    "UV",
    "MN",
    "京津",
    "鲁鄂",
    "皖晥",
    "赣贛",
    "苏赤",
    "冀翼",
    "沪泸",
    "浙淅",
    "闽闵",
)
_GROUP: Final[dict[str, str]] = {ch: group for group in LOOKALIKES for ch in group}
_FOLD: Final[dict[int, str]] = str.maketrans({ch: group[0] for ch, group in _GROUP.items()})


def fold(plate: str) -> str:
    """``plate`` with each character replaced by the first of its look-alike group: two
    reads of one plate that differ only by look-alikes fold to the same text."""
    return plate.translate(_FOLD)


def lookalike(a: str, b: str) -> bool:
    """Whether a camera may read character ``a`` as the different character ``b``."""
    group = _GROUP.get(a)
    return group is not None and a != b and b in group


def misread(plate: str, rng: random.Random) -> str:
    """What an LPR camera might report instead of ``plate``; always different from it.

    Look-alike swaps are most common, then dropped characters (dirt, a tow bar), then a
    doubled one. The result may break GA 36-2018, exactly as real misreads do.
    """
    if not plate:
        raise ValueError("cannot misread an empty plate")
    swappable = [i for i, ch in enumerate(plate) if ch in _GROUP]
    roll = rng.random()
    if swappable and roll < 0.75:
        i = rng.choice(swappable)
        other = rng.choice(_GROUP[plate[i]].replace(plate[i], ""))
        return plate[:i] + other + plate[i + 1 :]
    if len(plate) > 1 and roll < 0.92:
        i = rng.randrange(len(plate))
        return plate[:i] + plate[i + 1 :]
    i = rng.randrange(len(plate))
    return plate[: i + 1] + plate[i:]
