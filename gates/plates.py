"""Chinese number plates as GA 36-2018 writes them, and the ways a camera gets them wrong.

The centre flags a plate read that breaks the national format (``plate_valid`` in the
lane's status: the camera misread it, and an agent should look), the simulator needs
plausible plates and plausible misreads, and the snapshot renderer needs the background
colour. All of it is text in, text out: no I/O.
"""

from __future__ import annotations

import random
import re
import unicodedata
from typing import Final

from gates.vocabulary import PlateColour

# GA 36-2018: the abbreviations of the 31 mainland provincial-level divisions, mapped to
# their ISO 3166-2:CN codes. Hershey fonts cannot draw Chinese, so the snapshot draws the
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

# GA 36-2018: the last character of a special-series plate, and how the renderer spells it.
SUFFIX_CODES: Final[dict[str, str]] = {
    "挂": "GUA",  # trailer
    "学": "XUE",  # learner (coach) car
    "警": "JING",  # police
    "港": "GANG",  # Hong Kong cross-border, issued as 粤Z only
    "澳": "AO",  # Macao cross-border, issued as 粤Z only
}

# GA 36-2018 leaves out I and O everywhere after the province so they never pass for 1 and 0.
_LETTERS: Final[str] = "ABCDEFGHJKLMNPQRSTUVWXYZ"
_DIGITS: Final[str] = "0123456789"
# New-energy series letters: GA 36-2018 gave D (pure electric) and F (other new energy);
# when those ran out the Ministry of Public Security extended them to D,A,B,C,E for pure
# electric and F,G,H,J,K for the rest, in the same positions.
_NEV_BEV: Final[str] = "DABCE"
_NEV_OTHER: Final[str] = "FGHJK"
_NEV: Final[str] = _NEV_BEV + _NEV_OTHER

_P = f"[{PROVINCES}]"
_AUTH = f"[{_LETTERS}]"
_CHAR = f"[{_LETTERS}{_DIGITS}]"
# Ordinary: province + authority letter + 5 characters; the special series trade the 5th
# for 挂/学/警 (any authority) or 港/澳 (粤Z only).
_ORDINARY = re.compile(f"{_P}{_AUTH}{_CHAR}{{5}}")
_SPECIAL = re.compile(f"{_P}{_AUTH}{_CHAR}{{4}}[挂学警]|粤Z{_CHAR}{{4}}[港澳]")
# New-energy small car: series letter, a letter or digit, then 4 digits.
_NEV_SMALL = re.compile(f"{_P}{_AUTH}[{_NEV}]{_CHAR}[0-9]{{4}}")
# New-energy large vehicle: 5 digits, then the series letter last.
_NEV_LARGE = re.compile(f"{_P}{_AUTH}[0-9]{{5}}[{_NEV}]")

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
    """Whether ``plate`` (already normalised) is a plate GA 36-2018 can issue."""
    return any(
        rule.fullmatch(plate) is not None for rule in (_ORDINARY, _SPECIAL, _NEV_SMALL, _NEV_LARGE)
    )


def is_new_energy(plate: str) -> bool:
    """New-energy plates have one more character; billing policies often treat them apart."""
    return _NEV_SMALL.fullmatch(plate) is not None or _NEV_LARGE.fullmatch(plate) is not None


def colour_of(plate: str, default: PlateColour = PlateColour.BLUE) -> PlateColour:
    """The background colour the text of a plate implies.

    An ordinary plate is blue on a car and yellow on a truck with the same characters, so
    only the caller (the camera, which sees the colour) can tell; ``default`` is its word.
    """
    if _NEV_SMALL.fullmatch(plate):
        return PlateColour.GREEN
    if _NEV_LARGE.fullmatch(plate):
        return PlateColour.YELLOW_GREEN
    if _SPECIAL.fullmatch(plate):
        suffix = plate[-1]
        if suffix == "警":
            return PlateColour.WHITE
        if suffix in "港澳":
            return PlateColour.BLACK
        return PlateColour.YELLOW  # 学 and 挂
    if _ORDINARY.fullmatch(plate):
        return default
    return PlateColour.UNKNOWN


def random_plate(rng: random.Random, *, new_energy: bool = False, home: str = "粤B") -> str:
    """A plausible plate for a car at a car park whose local plates start with ``home``.

    Most cars at a car park are local: about 70 % carry the home prefix, 15 % another
    authority of the same province, 15 % come from elsewhere.
    """
    if len(home) != 2 or home[0] not in PROVINCE_CODES or home[1] not in _LETTERS:
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
        series = "D" if rng.random() < 0.6 else rng.choice(_NEV)
        second = rng.choice(_DIGITS) if rng.random() < 0.7 else rng.choice(_LETTERS)
        return prefix + series + second + "".join(rng.choices(_DIGITS, k=4))
    return prefix + "".join(rng.choices(_DIGITS, k=5)) + rng.choice("DF")


def _ordinary_serial(rng: random.Random) -> str:
    # Issued serials are mostly digits with a letter or two; owners who choose their own
    # number rarely get more than two letters.
    serial = rng.choices(_DIGITS, k=5)
    for position in rng.sample(range(5), k=rng.choice((0, 0, 1, 1, 1, 2))):
        serial[position] = rng.choice(_LETTERS)
    return "".join(serial)


# Pairs an LPR engine mixes up, in both directions.
_LOOKALIKES: Final[tuple[tuple[str, str], ...]] = (
    ("0", "D"),
    ("0", "Q"),
    ("D", "Q"),
    ("8", "B"),
    ("1", "7"),
    ("2", "Z"),
    ("5", "S"),
    ("6", "G"),
    ("4", "A"),
    ("E", "F"),
    ("U", "V"),
    ("M", "N"),
    ("京", "津"),
    ("鲁", "鄂"),
    ("皖", "晥"),  # not a province at all: engines do emit it
    ("赣", "贛"),
    ("苏", "赤"),
)


def _confusions() -> dict[str, tuple[str, ...]]:
    table: dict[str, tuple[str, ...]] = {}
    for a, b in _LOOKALIKES:
        table[a] = (*table.get(a, ()), b)
        table[b] = (*table.get(b, ()), a)
    return table


_CONFUSED: Final[dict[str, tuple[str, ...]]] = _confusions()


def misread(plate: str, rng: random.Random) -> str:
    """What an LPR camera might report instead of ``plate``; always different from it.

    Look-alike swaps are most common, then dropped characters (dirt, a tow bar), then a
    doubled one. The result may break GA 36-2018, exactly as real misreads do.
    """
    if not plate:
        raise ValueError("cannot misread an empty plate")
    swappable = [i for i, ch in enumerate(plate) if ch in _CONFUSED]
    roll = rng.random()
    if swappable and roll < 0.75:
        i = rng.choice(swappable)
        return plate[:i] + rng.choice(_CONFUSED[plate[i]]) + plate[i + 1 :]
    if len(plate) > 1 and roll < 0.92:
        i = rng.randrange(len(plate))
        return plate[:i] + plate[i + 1 :]
    i = rng.randrange(len(plate))
    return plate[: i + 1] + plate[i:]
