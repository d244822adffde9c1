"""The token in a lane's help sticker: proof that the centre issued it for that lane.

A driver scans the sticker and lands on ``/help/{token}``, with no login. The token says
which lane the driver stands at, so it must not be forgeable (a prank call "from" any
lane) and must stop working when the sticker is replaced (one photographed and pasted
elsewhere). Each lane has a sticker *serial*; revoking a lane's stickers bumps it, and
only a token that carries the current serial is admitted.

The format, all ASCII and safe in a URL path::

    token   = b64url(payload) "." b64url(tag)        (base64url, no padding)
    payload = "1:" key_id ":" serial ":" lane_id     (UTF-8; lane id last: it may hold ":")
    tag     = HMAC-SHA256(key, payload)              (all 32 bytes)

``key_id`` is 8 hex digits naming the key (a hash of it, not part of it), so a sticker
signed with another key is named as such rather than as a forgery. Reading is strict:
one spelling per token (canonical base64, no leading zeros), so no altered token is
admitted even where the alteration would decode to the same bytes.

The signing itself (base64url, HMAC, the strict reading) is ``console.signing``'s, which
the pay links share. Pure: no I/O. Where the key and the serials live is
``console.stickers``'s business.
"""

from __future__ import annotations

import enum
import hashlib
import re
from dataclasses import dataclass

from gates.textrules import is_ident

from .errors import NotFound
from .signing import Malformed, seal, tag_matches, unseal

KEY_BYTES = 32
_VERSION = "1"
# The longest a token can be: a 64-character lane id and an 18-digit serial come to
# about 170 characters. Anything longer is refused before it is decoded.
MAX_TOKEN = 256
_KEY_ID = re.compile(r"[0-9a-f]{8}")
_SERIAL = re.compile(r"[1-9][0-9]{0,17}")


class Refusal(enum.StrEnum):
    """Why a token was refused; the value is the error code."""

    MALFORMED = "sticker_malformed"  # not a token at all: garbage, cut short, too long
    OTHER_KEY = "sticker_other_key"  # signed with a key this centre does not hold
    FORGED = "sticker_forged"  # well formed, but the tag does not match
    REVOKED = "sticker_revoked"  # genuine, but its serial is not the lane's current one
    UNKNOWN_LANE = "sticker_unknown_lane"  # genuine, for a lane that no longer exists


class StickerRefused(NotFound):
    """A help-page token that does not stand. A 404: the page for it does not exist."""

    def __init__(self, reason: Refusal, detail: str) -> None:
        super().__init__(reason.value, detail)
        self.reason = reason


@dataclass(frozen=True, slots=True)
class StickerClaim:
    """What a genuine token says: the centre issued sticker ``serial`` for ``lane_id``."""

    lane_id: str
    serial: int


def key_id(key: bytes) -> str:
    """A short public name for ``key``."""
    return hashlib.sha256(b"seat sticker key id\0" + key).hexdigest()[:8]


def make_token(key: bytes, claim: StickerClaim) -> str:
    """The token of ``claim``. Raises ``ValueError`` for a key shorter than 32 bytes, a
    lane id the lane link would refuse, or a serial below 1: those are the caller's bugs."""
    if len(key) < KEY_BYTES:
        raise ValueError(f"a sticker key has at least {KEY_BYTES} bytes, not {len(key)}")
    if not is_ident(claim.lane_id):
        raise ValueError(f"not a lane id: {claim.lane_id!r}")
    if _SERIAL.fullmatch(str(claim.serial)) is None:
        raise ValueError(f"a sticker serial is 1 or more, below 10**18, not {claim.serial}")
    payload = f"{_VERSION}:{key_id(key)}:{claim.serial}:{claim.lane_id}".encode()
    return seal(key, payload)


def read_token(key: bytes, token: str) -> StickerClaim:
    """What ``token`` claims, if ``key`` signed it; raises ``StickerRefused`` (and only
    that) for anything else. Says nothing of whether the claim is still current: see
    :func:`admit`."""
    if len(token) > MAX_TOKEN:
        raise StickerRefused(Refusal.MALFORMED, f"longer than {MAX_TOKEN} characters")
    try:
        payload, tag = unseal(token)
    except Malformed as exc:
        raise StickerRefused(Refusal.MALFORMED, exc.detail) from None
    try:
        version, signer, serial, lane_id = payload.decode("ascii").split(":", 3)
    except (UnicodeDecodeError, ValueError):
        raise StickerRefused(
            Refusal.MALFORMED, "the payload is not version:key:serial:lane"
        ) from None
    if version != _VERSION:
        raise StickerRefused(Refusal.MALFORMED, f"unknown token version {version[:8]!r}")
    if _KEY_ID.fullmatch(signer) is None:
        raise StickerRefused(Refusal.MALFORMED, "the key id is not 8 hex digits")
    if _SERIAL.fullmatch(serial) is None:
        raise StickerRefused(Refusal.MALFORMED, "the serial is not a number from 1")
    if not is_ident(lane_id):
        raise StickerRefused(Refusal.MALFORMED, "the lane id is not one a lane could have")
    if signer != key_id(key):
        raise StickerRefused(
            Refusal.OTHER_KEY,
            f"signed with key {signer}; this centre's sticker key is {key_id(key)}",
        )
    if not tag_matches(key, payload, tag):
        raise StickerRefused(Refusal.FORGED, "the tag does not match: not issued by this centre")
    return StickerClaim(lane_id, int(serial))


def admit(claim: StickerClaim, current_serial: int | None) -> None:
    """Raises ``StickerRefused`` unless ``claim`` is the lane's current sticker;
    ``current_serial`` is the lane's, or None if there is no such lane."""
    if current_serial is None:
        raise StickerRefused(Refusal.UNKNOWN_LANE, f"no lane {claim.lane_id!r}")
    if claim.serial != current_serial:
        raise StickerRefused(
            Refusal.REVOKED,
            f"sticker {claim.serial} of lane {claim.lane_id!r} was replaced: "
            f"the lane's current sticker is {current_serial}",
        )
