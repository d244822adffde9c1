"""A plate as a camera wrote it, made the lane link's: normalised, and refused when it
holds what no plate does (a control character, a lone surrogate that JSON's ``\\ud800``
lets through) or is longer than the link carries."""

from __future__ import annotations

from gates.plates import PLATE_MAX, normalise


class PlateTextError(ValueError):
    pass


def camera_plate(text: str, unread: frozenset[str]) -> str:
    """``text`` normalised; "" for the camera's words for a car it could not read."""
    if any(ord(ch) < 0x20 or 0xD800 <= ord(ch) <= 0xDFFF or ch == "\x7f" for ch in text):
        raise PlateTextError(f"plate {text[:20]!r} holds a control character or a surrogate")
    plate = normalise(text.strip())
    if plate in unread:
        return ""
    if len(plate) > PLATE_MAX:
        raise PlateTextError(f"plate {plate[:20]!r}... is longer than {PLATE_MAX}")
    return plate
