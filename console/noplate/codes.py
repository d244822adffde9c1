"""What a no-plate QR code and a phone's cookie carry, signed by the centre
(``console.signing``), and the temporary identity a stay is kept under. Pure.

A lane's code is short-lived and single-use, so a photo of the display cannot open the
gate from home later, and one scan lets one car through::

    code    = seal("np1:" issued ":" nonce ":" lane_id)   (issued: Unix seconds)
    phone   = seal("phone1:" phone_id ":" issued)         (phone_id: 32 hex digits)

``nonce`` is 16 hex digits, kept with the stay it opened or closed: the store refuses it
a second time. The phone's token is the value of an HttpOnly cookie; it binds the stay
to the phone that scanned the entry's code. The keys are derived from the help
stickers' key (``console.stickers.sticker_key``), one per use, so no token of one kind
can pass for another.
"""

from __future__ import annotations

import hashlib
import hmac
import re
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from gates.textrules import is_ident

from ..signing import Malformed, seal, tag_matches, unseal
from .errors import CodeExpired, CodeRefused

CODE_PATH = "/noplate/"
MAX_TOKEN = 192  # a 64-character lane id comes to about 150
_CODE = "np1"
_PHONE = "phone1"
_NONCE = re.compile(r"[0-9a-f]{16}")
_PHONE_ID = re.compile(r"[0-9a-f]{32}")
_SECONDS = re.compile(r"[1-9][0-9]{0,11}")
# A code stamped this far ahead of the centre's clock is no code it made.
CLOCK_SKEW = timedelta(seconds=5)
# The temporary identity: a stay's plate while the car has none. "无牌" is no province,
# so it can never be a real plate (GA 36-2018), and it sorts with nothing else.
IDENTITY_PREFIX = "无牌"


@dataclass(frozen=True, slots=True)
class LaneCode:
    lane_id: str
    issued: datetime
    nonce: str


@dataclass(frozen=True, slots=True)
class Phone:
    phone_id: str
    issued: datetime


def code_key(sticker_key: bytes) -> bytes:
    return hmac.digest(sticker_key, b"seat no-plate code key", hashlib.sha256)


def phone_key(sticker_key: bytes) -> bytes:
    return hmac.digest(sticker_key, b"seat no-plate phone key", hashlib.sha256)


def new_nonce() -> str:
    return secrets.token_hex(8)


def new_phone_id() -> str:
    return secrets.token_hex(16)


def temporary_identity(nonce: str) -> str:
    """The plate a stay opened by the entry code ``nonce`` is kept under."""
    if _NONCE.fullmatch(nonce) is None:
        raise ValueError(f"not a code nonce: {nonce!r}")
    return IDENTITY_PREFIX + nonce[:10].upper()


def is_temporary(plate: str) -> bool:
    return plate.startswith(IDENTITY_PREFIX)


def make_code(key: bytes, code: LaneCode) -> str:
    if not is_ident(code.lane_id) or _NONCE.fullmatch(code.nonce) is None:
        raise ValueError(f"not a lane code: {code!r}")
    return seal(key, f"{_CODE}:{_seconds(code.issued)}:{code.nonce}:{code.lane_id}".encode())


def read_code(key: bytes, token: str, now: datetime, lifetime: timedelta) -> LaneCode:
    """The code ``token`` is, if ``key`` signed it and it is fresh as of ``now``:
    ``CodeRefused`` for a malformed or forged one, ``CodeExpired`` for an old one."""
    payload = _payload(key, token, "noplate_code")
    try:
        kind, issued, nonce, lane_id = payload.split(":", 3)
    except ValueError:
        raise CodeRefused("noplate_code_malformed", "not a no-plate code") from None
    if (
        kind != _CODE
        or _SECONDS.fullmatch(issued) is None
        or _NONCE.fullmatch(nonce) is None
        or not is_ident(lane_id)
    ):
        raise CodeRefused("noplate_code_malformed", "not a no-plate code")
    code = LaneCode(lane_id, datetime.fromtimestamp(int(issued), UTC), nonce)
    if code.issued > now + CLOCK_SKEW:
        raise CodeRefused("noplate_code_forged", "issued in the future: not this centre's")
    if now - code.issued > lifetime:
        raise CodeExpired(
            "noplate_code_expired", f"the code is older than {int(lifetime.total_seconds())} s"
        )
    return code


def make_phone(key: bytes, phone: Phone) -> str:
    if _PHONE_ID.fullmatch(phone.phone_id) is None:
        raise ValueError(f"not a phone id: {phone.phone_id!r}")
    return seal(key, f"{_PHONE}:{phone.phone_id}:{_seconds(phone.issued)}".encode())


def read_phone(key: bytes, token: str, now: datetime, lifetime: timedelta) -> Phone | None:
    """The phone a cookie names, or None for a cookie that is no longer (or never was)
    one: a phone with none is a phone the centre has not seen."""
    try:
        payload = _payload(key, token, "noplate_phone")
        kind, phone_id, issued = payload.split(":")
    except (CodeRefused, ValueError):
        return None
    if kind != _PHONE or _PHONE_ID.fullmatch(phone_id) is None:
        return None
    if _SECONDS.fullmatch(issued) is None:
        return None
    phone = Phone(phone_id, datetime.fromtimestamp(int(issued), UTC))
    if phone.issued > now + CLOCK_SKEW or now - phone.issued > lifetime:
        return None
    return phone


def _payload(key: bytes, token: str, kind: str) -> str:
    if len(token) > MAX_TOKEN:
        raise CodeRefused(f"{kind}_malformed", f"longer than {MAX_TOKEN} characters")
    try:
        payload, tag = unseal(token)
        text = payload.decode("ascii")
    except Malformed as exc:
        raise CodeRefused(f"{kind}_malformed", exc.detail) from None
    except UnicodeDecodeError:
        raise CodeRefused(f"{kind}_malformed", "the payload is not ASCII") from None
    if not tag_matches(key, payload, tag):
        raise CodeRefused(f"{kind}_forged", "the tag does not match: not issued by this centre")
    return text


def _seconds(at: datetime) -> int:
    return int(at.timestamp())


def code_url(base: str, token: str) -> str:
    return f"{base}{CODE_PATH}{token}"
