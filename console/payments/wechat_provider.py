"""WeChat Pay v3 Native payments behind the provider interface (``provider.py``).

An order is opened with WeChat Pay under its own id as ``out_trade_no`` (32 hex digits,
within WeChat's 6 to 32), to expire when the centre's order does; the QR code on the
lane's display is WeChat Pay's ``code_url``, which only the WeChat app pays, so the
centre's pay page plays no part. A notification is believed once its signature, serial
and timestamp hold and its resource decrypts (``WeChatPay.verify_notification``); every
refusal comes out as ``NotificationRefused`` with WeChat's reason as its code, so the
centre audits it as any provider's forgery."""

from __future__ import annotations

import logging
from collections.abc import Mapping

from gates.protocol import MAX_DISPLAY_QR

from .errors import BadNotification, NotificationRefused, UntrustedResponse, WeChatRefused
from .orders import PaymentOrder
from .provider import PaymentNotice, Placed
from .wechat import TradeState, WeChatPay

log = logging.getLogger("seat.payments")

WECHAT = "wechat"
# What the payer's WeChat shows beside the amount; WeChat Pay takes up to 127 characters.
DESCRIPTION = "停车费 {plate}"


class WeChatProvider:
    """``notify_url`` is the centre's ``/pay/notify/wechat`` as WeChat Pay reaches it."""

    def __init__(self, client: WeChatPay, notify_url: str) -> None:
        self._client = client
        self._notify_url = notify_url

    @property
    def name(self) -> str:
        return WECHAT

    async def aclose(self) -> None:
        await self._client.aclose()

    async def create(self, order: PaymentOrder, pay_link: str) -> Placed:
        code_url = await self._client.create_native(
            order.order_id,
            order.amount_fen,
            DESCRIPTION.format(plate=order.plate),
            self._notify_url,
            order.expires_at,
        )
        # The lane link carries a QR's text of at most MAX_DISPLAY_QR characters; WeChat
        # Pay's are a few dozen, and one that is not would be refused by the lane.
        if len(code_url) > MAX_DISPLAY_QR:
            raise UntrustedResponse(
                "malformed_response",
                f"code_url of {len(code_url)} characters, more than a display shows",
            )
        return Placed(order.order_id, code_url)

    async def close(self, order: PaymentOrder) -> None:
        try:
            await self._client.close(order.order_id)
        except WeChatRefused as exc:
            # Paid already (then a late payment, found by notification or query), or
            # never opened with WeChat Pay: nothing to close.
            if exc.wechat_code not in ("ORDERPAID", "ORDER_NOT_EXIST"):
                raise
            log.info(
                "payments.wechat.close.skipped order=%s code=%s", order.order_id, exc.wechat_code
            )

    def verify(self, headers: Mapping[str, str], body: bytes) -> PaymentNotice:
        try:
            notification = self._client.verify_notification(headers, body)
        except BadNotification as exc:
            raise NotificationRefused(exc.code, exc.detail) from None
        if notification.trade_state is not TradeState.SUCCESS:
            # A Native payment's notification is TRANSACTION.SUCCESS; anything else
            # pays for nothing.
            raise NotificationRefused(
                "not_paid", f"the notification's trade_state is {notification.trade_state}"
            )
        return PaymentNotice(
            notification.out_trade_no,
            notification.transaction_id,
            notification.amount_fen,
            notification.notification_id,
        )

    async def query(self, order: PaymentOrder) -> PaymentNotice | None:
        """The payment WeChat Pay holds for the order; None while it is unpaid, closed,
        refunded or unknown to WeChat Pay (an order whose creation never reached it)."""
        try:
            found = await self._client.query(order.order_id)
        except WeChatRefused as exc:
            if exc.code == "order_not_found":
                return None
            raise
        if (
            found.state is not TradeState.SUCCESS
            or found.transaction_id is None
            or found.amount_fen is None
        ):
            return None
        return PaymentNotice(found.out_trade_no, found.transaction_id, found.amount_fen)
