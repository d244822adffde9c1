"""A plate as a camera wrote it, made the lane link's: normalised, and refused when it
holds what no plate does (a control character, a bidirectional control that shows it
other than it reads, a lone surrogate that JSON's ``\\ud800`` lets through) or is longer
than the link carries."""

from __future__ import annotations

from gates.plates import PLATE_MAX, normalise
from gates.textrules import TextError, check_text

# What cameras write for a car they could not read, or that has no plate, normalised:
# AlarmInfoPlate's "_无_" and "无牌车", Hikvision's "noPlate" and "unknown", Dahua's
# "无牌"; one set for every family, so no camera's word reaches the centre as a plate.
UNREAD = frozenset({"", "无", "无牌", "无牌车", "无车牌", "NOPLATE", "UNKNOWN"})


class PlateTextError(ValueError):
    pass


def camera_plate(text: str) -> str:
    """``text`` normalised; "" for a camera's words for a car it could not read."""
    try:
        # The camera's text as written, spaces and all, before it is normalised.
        check_text(text, max_len=4 * PLATE_MAX)
    except TextError as exc:
        raise PlateTextError(f"plate {text[:20]!r} {exc}") from None
    plate = normalise(text.strip())
    if plate in UNREAD:
        return ""
    if len(plate) > PLATE_MAX:
        raise PlateTextError(f"plate {plate[:20]!r}... is longer than {PLATE_MAX}")
    return plate
