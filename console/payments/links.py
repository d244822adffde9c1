"""The pay link a lane's display shows as a QR code: ``/pay/{token}``, the token naming
one order, signed by the centre (``console.signing``) so a driver's phone cannot be
sent to pay for another order, nor a made-up one.

    payload = "pay1:" order_id

The key is derived from the help stickers' key (``console.stickers.sticker_key``), so a
centre keeps one secret and a sticker's token can never pass for a pay link or the
reverse. What the order's state allows (paid, expired, cancelled) is the store's to
say: the token only names the order. Pure.
"""

from __future__ import annotations

import hashlib
import hmac
import re

from ..signing import Malformed, seal, tag_matches, unseal
from .errors import UnknownOrder

PAY_PATH = "/pay/"
# Where a provider sends its notifications: NOTIFY_PATH + the provider's name.
NOTIFY_PATH = "/pay/notify/"
_PREFIX = "pay1:"
_ORDER_ID = re.compile(r"[0-9a-f]{32}")
MAX_TOKEN = 128


class LinkRefused(UnknownOrder):
    """``pay_link_malformed`` or ``pay_link_forged``: a 404, no page for it exists."""


def link_key(sticker_key: bytes) -> bytes:
    return hmac.digest(sticker_key, b"seat pay link key", hashlib.sha256)


def make_link_token(key: bytes, order_id: str) -> str:
    if _ORDER_ID.fullmatch(order_id) is None:
        raise ValueError(f"not an order id: {order_id!r}")
    return seal(key, (_PREFIX + order_id).encode("ascii"))


def read_link_token(key: bytes, token: str) -> str:
    """The order id ``token`` names, if ``key`` signed it; ``LinkRefused`` otherwise."""
    if len(token) > MAX_TOKEN:
        raise LinkRefused("pay_link_malformed", f"longer than {MAX_TOKEN} characters")
    try:
        payload, tag = unseal(token)
    except Malformed as exc:
        raise LinkRefused("pay_link_malformed", exc.detail) from None
    text = payload.decode("ascii", errors="replace")
    order_id = text.removeprefix(_PREFIX)
    if not text.startswith(_PREFIX) or _ORDER_ID.fullmatch(order_id) is None:
        raise LinkRefused("pay_link_malformed", "the payload does not name an order")
    if not tag_matches(key, payload, tag):
        raise LinkRefused("pay_link_forged", "the tag does not match: not issued by this centre")
    return order_id


def pay_url(base: str, token: str) -> str:
    return f"{base}{PAY_PATH}{token}"
