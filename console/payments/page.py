"""The pay page (README, "The pay page"): what a driver's phone shows after scanning the
display's QR code, with no login. ``/pay/{token}`` for an open order shows its amount
and plate and, with the sandbox provider, a "pay" button; a paid, expired or cancelled
order, or a link the centre did not sign, gets a page saying so and nothing to pay.
``/pay/notify/{provider}`` is where providers send their notifications.
"""

from __future__ import annotations

import html
import string
from datetime import UTC, datetime

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route

from ..errors import ConsoleError, NotConfigured, PayloadTooLarge
from ..settings import Settings
from ..web import JSONResponse, client_address, cross_site
from .errors import OrderClosed, UnknownOrder
from .links import NOTIFY_PATH
from .orders import OrderState, PaymentOrder
from .service import Payments
from .shown import yuan

# A provider's notification is a few kilobytes (WeChat Pay's is under 2).
NOTIFICATION_MAX = 64 * 1024
WECHAT_MESSAGE_MAX = 64


class PayPage:
    def __init__(self, settings: Settings, payments: Payments) -> None:
        self.payments = payments
        self._template = string.Template(
            (settings.web_dir / "pay.html").read_text(encoding="utf-8")
        )

    def routes(self) -> list[BaseRoute]:
        """Under ``/pay``; the notification route first, so no token is named "notify"."""
        return [
            Route(NOTIFY_PATH.removeprefix("/pay") + "{provider}", self.notify, methods=["POST"]),
            Route("/{token}", self.page),
            Route("/{token}/sandbox", self.sandbox_pay, methods=["POST"]),
        ]

    async def page(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            order = await self.payments.linked_order(token)
        except UnknownOrder:
            return self._page("invalid", status=404)
        return self._order_page(order, token)

    async def sandbox_pay(self, request: Request) -> Response:
        """The driver tapped "pay"; the page then says how it went."""
        token = str(request.path_params["token"])
        if cross_site(request):
            return self._page("invalid", status=403)
        try:
            settled = await self.payments.sandbox_pay(token)
        except NotConfigured:
            return self._page("invalid", status=503)
        except UnknownOrder:
            return self._page("invalid", status=404)
        except OrderClosed:
            order = await self.payments.linked_order(token)
            return self._order_page(order, token, status=409)
        return self._order_page(settled.order, token)

    async def notify(self, request: Request) -> Response:
        """A provider's notification: 200 once recorded (again for a replay, and for a
        payment that came late); a refusal is 4xx (forged, unknown order, another sum,
        too large) or 5xx (the centre could not record it), which WeChat Pay answers by
        sending the notification again later."""
        try:
            body = await request.body()
            if len(body) > NOTIFICATION_MAX:
                raise PayloadTooLarge(
                    "too_large", f"a notification is at most {NOTIFICATION_MAX} bytes"
                )
            settled = await self.payments.notified(
                str(request.path_params["provider"]),
                request.headers,
                body,
                remote=client_address(request),
            )
        except ConsoleError as exc:
            return refusal(exc)
        effect = settled.notification.effect.value if settled.new else "replayed"
        return JSONResponse({"order_id": settled.order.order_id, "effect": effect})

    def _order_page(self, order: PaymentOrder, token: str, *, status: int = 200) -> Response:
        state = order.state_at(datetime.now(UTC))
        page = "pay" if state is OrderState.OPEN else state.value
        if page != "pay" and status == 200 and state is not OrderState.PAID:
            status = 410  # gone: the link no longer pays for anything
        return self._page(page, order=order, token=token, status=status)

    def _page(
        self,
        page: str,
        *,
        order: PaymentOrder | None = None,
        token: str = "",
        status: int = 200,
    ) -> Response:
        text = self._template.substitute(
            page=page,
            amount="" if order is None else html.escape(yuan(order.amount_fen)),
            plate="" if order is None else html.escape(order.plate),
            car_park="" if order is None else html.escape(order.car_park),
            action=html.escape(f"/pay/{token}/sandbox"),
        )
        return HTMLResponse(text, status_code=status)


def refusal(error: ConsoleError) -> Response:
    """A refused notification in the centre's error shape and in WeChat Pay's, whose
    servers read ``{"code": "FAIL", "message": …}`` (a message of 1 to 64 characters)
    from an answer that is not 2xx."""
    message = error.detail[:WECHAT_MESSAGE_MAX]
    body = {"error": error.code, "detail": error.detail, "code": "FAIL", "message": message}
    return JSONResponse(body, status_code=error.status)
