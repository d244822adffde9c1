"""Tokens the centre signs and later reads back: a payload and its HMAC-SHA256 tag, in
a form safe in a URL path. The help stickers (``console.sticker_token``) and the pay
links (``console.payments.links``) are such tokens, each with its own payload.

The format, all ASCII::

    token = b64url(payload) "." b64url(tag)     (base64url, no padding)
    tag   = HMAC-SHA256(key, payload)           (all 32 bytes)

Reading is strict: one spelling per token (canonical base64, no padding), so no altered
token is admitted even where the alteration would decode to the same bytes. Pure.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import re

_B64URL = re.compile(r"[A-Za-z0-9_-]+")


class Malformed(ValueError):
    """Not a token at all: garbage, cut short, not ASCII, not canonical."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


def seal(key: bytes, payload: bytes) -> str:
    return f"{_encode(payload)}.{_encode(_tag(key, payload))}"


def unseal(token: str) -> tuple[bytes, bytes]:
    """The payload and tag ``token`` carries, not yet checked against any key:
    ``Malformed`` for anything that is not a token."""
    if not token.isascii():  # also refuses lone surrogates, which are not ASCII
        raise Malformed("not ASCII")
    encoded_payload, dot, encoded_tag = token.partition(".")
    if not dot:
        raise Malformed("no '.' between payload and tag")
    return _decode(encoded_payload, "payload"), _decode(encoded_tag, "tag")


def tag_matches(key: bytes, payload: bytes, tag: bytes) -> bool:
    return hmac.compare_digest(tag, _tag(key, payload))


def _tag(key: bytes, payload: bytes) -> bytes:
    return hmac.digest(key, payload, "sha256")


def _encode(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode("ascii")


def _decode(text: str, part: str) -> bytes:
    """Canonical unpadded base64url only: the alphabet, a length base64 can have, and
    unused trailing bits zero (checked by encoding back)."""
    if _B64URL.fullmatch(text) is None or len(text) % 4 == 1:
        raise Malformed(f"the {part} is not base64url")
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), altchars=b"-_", validate=True)
    except binascii.Error:
        raise Malformed(f"the {part} is not base64url") from None
    if _encode(raw) != text:
        raise Malformed(f"the {part} is not canonical base64url")
    return raw
