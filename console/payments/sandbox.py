"""The sandbox provider: money "taken" by one tap on the pay page, for ``seat demo`` and
the tests, with no bank behind it.

It plays both sides a real provider has: it takes the payment when the driver taps
"pay", and it sends the centre a signed notification of it, which the centre reads
through the same path as any provider's (``Payments.notified``). Its signature is an
HMAC-SHA256 of the body under a key derived from the centre's sticker key, in the
``x-sandbox-signature`` header; anything else is a forgery. One tap or ten, an order
has one sandbox transaction, so a repeated tap is a replay the centre ignores.
"""

from __future__ import annotations

import hmac
import json
import uuid
from collections.abc import Mapping

from gates.textrules import TextError, is_ident, loads

from .errors import NotificationRefused
from .orders import PaymentOrder
from .provider import PaymentNotice, Placed

SANDBOX = "sandbox"
SIGNATURE_HEADER = "x-sandbox-signature"


def sandbox_key(sticker_key: bytes) -> bytes:
    """The sandbox's signing key, apart from the stickers' and the pay links'."""
    return hmac.digest(sticker_key, b"seat sandbox provider key", "sha256")


class SandboxProvider:
    def __init__(self, key: bytes) -> None:
        self._key = key
        self._taken: dict[str, PaymentNotice] = {}  # order id -> its one transaction

    @property
    def name(self) -> str:
        return SANDBOX

    async def create(self, order: PaymentOrder, pay_link: str) -> Placed:
        """The driver pays on the centre's own pay page."""
        return Placed(f"sandbox-{order.order_id}", pay_link)

    async def close(self, order: PaymentOrder) -> None:
        """Nothing to do: the pay page reads the order's state, and a replaced order's
        page pays nothing."""

    def take(self, order: PaymentOrder) -> tuple[dict[str, str], bytes]:
        """The driver tapped "pay": the payment is taken (once per order) and its
        notification made, as headers and body."""
        notice = self._taken.setdefault(
            order.order_id,
            PaymentNotice(order.order_id, f"sbx{uuid.uuid4().hex}", order.amount_fen),
        )
        return self.notification(notice)

    def notification(self, notice: PaymentNotice) -> tuple[dict[str, str], bytes]:
        body = json.dumps(
            {
                "order_id": notice.order_id,
                "transaction_id": notice.transaction_id,
                "amount_fen": notice.amount_fen,
            },
            separators=(",", ":"),
        ).encode()
        return {SIGNATURE_HEADER: self._sign(body)}, body

    def verify(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        signature = headers.get(SIGNATURE_HEADER, "")
        if not hmac.compare_digest(signature.encode(), self._sign(body).encode()):
            raise NotificationRefused(
                "notification_forged", "the sandbox signature does not match the body"
            )
        # Signed is not well formed: read as any body from outside (``gates.textrules``),
        # so a sender holding the key gets a refusal, not a 500, for a bad one.
        try:
            fields = loads(body)
        except TextError as exc:
            raise NotificationRefused("malformed_notification", f"not JSON text: {exc}") from None
        if not isinstance(fields, dict):
            raise NotificationRefused("malformed_notification", "not a JSON object")
        order_id, transaction_id = fields.get("order_id"), fields.get("transaction_id")
        amount = fields.get("amount_fen")
        if not all(isinstance(v, str) and is_ident(v) for v in (order_id, transaction_id)):
            raise NotificationRefused(
                "malformed_notification", "order_id and transaction_id must be ids"
            )
        if type(amount) is not int:
            raise NotificationRefused("malformed_notification", "amount_fen must be whole fen")
        return PaymentNotice(str(order_id), str(transaction_id), amount)

    async def query(self, order: PaymentOrder) -> PaymentNotice | None:
        return self._taken.get(order.order_id)

    def _sign(self, body: bytes) -> str:
        return hmac.digest(self._key, body, "sha256").hex()
