"""The no-plate pages (README, "Cars without a plate"): what a driver's phone shows after
scanning a lane's no-plate code, with no login.

``GET /noplate/{token}`` shows the page for the code and the phone: at an entry, a
button that opens a stay (``POST /noplate/{token}/enter``); at an exit, the phone's
stay and fee, and a button that leaves (``POST /noplate/{token}/leave``: free, or on
to the pay page). Every refusal is a page saying what to do, never a JSON body: the
reader is a driver at a barrier.

The phone is known by a signed cookie (``codes.py``), set when it first opens a stay:
HttpOnly, ``SameSite=Lax`` (the scan is a top-level navigation from the camera app),
``Path=/noplate``, for ``SEAT_NOPLATE_PHONE_DAYS``; ``Secure`` with
``SEAT_SECURE_COOKIES``.
"""

from __future__ import annotations

import html
import string
from urllib.parse import urlsplit

from starlette.requests import Request
from starlette.responses import HTMLResponse, RedirectResponse, Response
from starlette.routing import BaseRoute, Route

from ..billing.localtime import SHANGHAI
from ..errors import Conflict, ConsoleError, NotConfigured, StoreError, Throttled
from ..payments.shown import yuan
from ..settings import Settings
from ..web import client_address, cross_site
from .codes import CODE_PATH, Phone
from .errors import CodeExpired, CodeRefused, NoStay, StayRefused
from .model import NoPlateStay
from .rules import ExitWay, Page
from .service import NoPlate

PHONE_COOKIE = "seat_noplate_phone"


def page_of(error: ConsoleError) -> tuple[Page, int]:
    """The page, and its status, that tells a driver of ``error``."""
    if isinstance(error, CodeRefused):
        return Page.INVALID, 404
    if isinstance(error, CodeExpired):
        return Page.EXPIRED, 410
    if isinstance(error, NoStay):
        return Page.NO_STAY, 404
    if isinstance(error, StayRefused) and error.code == "phone_has_stay":
        return Page.HELD, 409
    if isinstance(error, StayRefused) and error.code == "stay_not_open":
        return Page.NO_STAY, 409
    if isinstance(error, Throttled):
        return Page.BUSY, 429
    if isinstance(error, StayRefused | Conflict):  # wrong_direction, a race lost
        return Page.INVALID, 409
    if isinstance(error, NotConfigured | StoreError):
        return Page.CALL, 503
    raise error


class NoPlatePage:
    def __init__(self, settings: Settings, noplate: NoPlate) -> None:
        self.settings = settings
        self.noplate = noplate
        self._template = string.Template(
            (settings.web_dir / "noplate.html").read_text(encoding="utf-8")
        )

    def routes(self) -> list[BaseRoute]:
        """Under ``/noplate``."""
        return [
            Route("/{token}", self.page),
            Route("/{token}/enter", self.enter, methods=["POST"]),
            Route("/{token}/leave", self.leave, methods=["POST"]),
        ]

    async def page(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        try:
            view = await self.noplate.view(token, self._phone(request))
        except ConsoleError as exc:
            return self._refused(exc)
        return self._page(view.page, token, view.stay, view.fee_fen)

    async def enter(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        if cross_site(request):
            return self._render(Page.INVALID, status=403)
        phone, cookie = self._phone(request), None
        if phone is None:
            phone, cookie = self.noplate.new_phone()
        try:
            stay = await self.noplate.enter(token, phone, client_address(request))
        except ConsoleError as exc:
            return self._refused(exc)
        response = self._page(Page.ENTERED, token, stay, status=201)
        if cookie is not None:
            response.set_cookie(
                PHONE_COOKIE,
                cookie,
                max_age=int(self.noplate.phone_lifetime.total_seconds()),
                httponly=True,
                samesite="lax",
                secure=self.settings.secure_cookies,
                path=CODE_PATH.rstrip("/"),
            )
        return response

    async def leave(self, request: Request) -> Response:
        token = str(request.path_params["token"])
        if cross_site(request):
            return self._render(Page.INVALID, status=403)
        phone = self._phone(request)
        try:
            if phone is None:
                raise NoStay("noplate_no_stay", "this phone has opened no stay")
            left = await self.noplate.leave(token, phone, client_address(request))
        except ConsoleError as exc:
            return self._refused(exc)
        if left.way is ExitWay.PAY and left.pay_url is not None:
            link = urlsplit(left.pay_url)
            if link.scheme not in ("http", "https"):
                # WeChat Pay's code, which only WeChat's scanner pays: the exit's display
                # shows it, and the page says to scan it there.
                return self._page(Page.SCAN, token, left.stay)
            # The pay page on the host the phone already reached (the link's own host
            # is SEAT_PUBLIC_URL's, the same centre).
            return RedirectResponse(link.path, status_code=303)
        return self._page(Page.LEFT, token, left.stay)

    def _phone(self, request: Request) -> Phone | None:
        return self.noplate.phone(request.cookies.get(PHONE_COOKIE))

    def _refused(self, error: ConsoleError) -> Response:
        page, status = page_of(error)
        return self._render(page, status=status)

    def _page(
        self,
        page: Page,
        token: str,
        stay: NoPlateStay | None,
        fee_fen: int | None = None,
        *,
        status: int = 200,
    ) -> Response:
        action = "enter" if page is Page.ENTER else "leave"
        return self._render(
            page,
            stay=stay,
            amount="免费" if not fee_fen else yuan(fee_fen),
            button="离场" if not fee_fen else "缴费离场",
            action=f"{CODE_PATH}{token}/{action}",
            status=status,
        )

    def _render(
        self,
        page: Page,
        *,
        stay: NoPlateStay | None = None,
        amount: str = "",
        button: str = "",
        action: str = "",
        status: int,
    ) -> Response:
        text = self._template.substitute(
            page=page.value,
            identity="" if stay is None else html.escape(stay.identity),
            car_park="" if stay is None else html.escape(stay.car_park),
            entered=""
            if stay is None
            else stay.entered_at.astimezone(SHANGHAI).strftime("%m月%d日 %H:%M"),
            amount=html.escape(amount),
            button=html.escape(button),
            action=html.escape(action),
        )
        return HTMLResponse(text, status_code=status)
