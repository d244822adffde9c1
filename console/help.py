"""The driver's help page (README, "The help page"): a phone that scanned a lane's help
sticker calls the seat, follows its call and talks on it, with no login.

``/help/{token}`` is the page, for a sticker the centre issued and has not revoked
(``console.stickers``); anything else gets a page saying the code is void, and nothing
below it works. The rules (limits, the phone's secret, when a page is gone, what the
page is told) are ``console.help_rules``; this is their driver: the routes, the clock,
the call service and the media bridge.
"""

from __future__ import annotations

import asyncio
import contextlib
import html
import json
import logging
import string
from collections.abc import Callable, Coroutine
from typing import Any

from starlette.requests import Request
from starlette.responses import HTMLResponse, Response
from starlette.routing import BaseRoute, Route, WebSocketRoute
from starlette.websockets import WebSocket, WebSocketDisconnect

from media.centre.bridge import MediaBridge
from media.errors import CallOver, OfferRefused

from .calls.model import Call, Source
from .calls.service import CallService
from .directory import Directory
from .errors import BadRequest, CallEnded, ConsoleError, Forbidden, Throttled, UnknownCall
from .fields import json_object
from .help_rules import (
    HelpLimits,
    PhoneState,
    Presence,
    call_secret,
    phone_view,
    retry_after,
    secret_matches,
)
from .settings import Settings
from .sticker_token import StickerClaim
from .stickers import check_sticker, sticker_key
from .store import Store
from .web import JSONResponse, client_address, read_json, same_origin

log = logging.getLogger("seat.help")

SECRET_HEADER = "x-help-secret"
# The stream's first message, the secret, must come within this long.
HELLO_TIMEOUT_S = 5.0
# A page open in a few tabs is fine; more streams than this for one call are not a page.
MAX_STREAMS = 4
CLOSE_OVER = 1000  # the call is over: the page shows so and does not reconnect
CLOSE_TOO_MANY = 1013
CLOSE_WRONG_SECRET = 4401
CLOSE_CROSS_ORIGIN = 4403
CLOSE_UNKNOWN = 4404  # a void sticker, or no such call at this lane

_PEER_GONE = (WebSocketDisconnect, OSError, RuntimeError)


class HelpDesk:
    def __init__(
        self,
        settings: Settings,
        store: Store,
        directory: Directory,
        calls: CallService,
        bridge: MediaBridge,
    ) -> None:
        self.settings = settings
        self.store = store
        self.directory = directory
        self.calls = calls
        self.bridge = bridge
        self.limits = HelpLimits()
        self.presence = Presence(settings.help_gone_s)
        self._template = string.Template(
            (settings.web_dir / "help.html").read_text(encoding="utf-8")
        )
        self._key = b""
        self._secrets: dict[str, str] = {}  # secret -> the open phone call it is for
        self._wakes: set[asyncio.Event] = set()  # one per open stream
        self._timer: asyncio.TimerHandle | None = None
        self._tasks: set[asyncio.Task[None]] = set()
        self._unsubscribe: Callable[[], None] | None = None
        self._running = False
        # Only the STUN servers of SEAT_ICE_SERVERS: an anonymous page is never handed
        # TURN credentials, and needs none (the centre's own relay candidates reach it).
        self._stun_servers = [
            {"urls": urls}
            for server in settings.ice_servers
            if (urls := _stun_urls(server["urls"]))
        ]

    def routes(self) -> list[BaseRoute]:
        """Under ``/help``."""
        return [
            Route("/{token}", self.page),
            Route("/{token}/call", self.place, methods=["POST"]),
            Route("/{token}/call/{call_id}", self.state),
            Route("/{token}/call/{call_id}/hangup", self.hang_up, methods=["POST"]),
            Route("/{token}/call/{call_id}/webrtc", self.voice, methods=["POST"]),
            WebSocketRoute("/{token}/call/{call_id}/stream", self.stream),
        ]

    # ------------------------------------------------------------- life

    async def start(self) -> None:
        """After the call service: phone calls still open from before a restart are
        the phones' again (their secrets are derived), and hung up unless their page
        comes back."""
        self._key = await sticker_key(self.store, self.settings)
        now = self._now()
        for call in self.calls.queue.open_calls():
            if call.source is Source.PHONE:
                self._secrets[call_secret(self._key, call.id)] = call.id
                self.presence.expect(call.id, now)
        self._unsubscribe = self.calls.subscribe(self._stepped)
        self._running = True
        self._rearm()

    async def close(self) -> None:
        """Before the call service closes: hang-ups under way finish."""
        self._running = False
        if self._unsubscribe is not None:
            self._unsubscribe()
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        if self._tasks:
            await asyncio.wait(self._tasks)

    # ------------------------------------------------------------- the page

    async def page(self, request: Request) -> Response:
        """The page for a sticker the centre stands by; a page saying the code is void
        (404) for any other."""
        try:
            claim = await self._claim(request, str(request.path_params["token"]))
        except ConsoleError:
            return HTMLResponse(self._render("invalid"), status_code=404)
        lane = await self.directory.lane(claim.lane_id)
        if lane is None:
            return HTMLResponse(self._render("invalid"), status_code=404)
        return HTMLResponse(self._render("call", car_park=lane.car_park, lane_name=lane.name))

    def _render(self, page: str, *, car_park: str = "", lane_name: str = "") -> str:
        return self._template.substitute(
            page=page, car_park=html.escape(car_park), lane_name=html.escape(lane_name)
        )

    # ------------------------------------------------------------- calls

    async def place(self, request: Request) -> Response:
        """Place a phone call; a phone that already has one open at this lane (it sends
        that call's secret) gets the same call back."""
        claim = await self._claim(request, str(request.path_params["token"]))
        json_object(await read_json(request, self.settings.max_body_bytes))
        held = self._held(request, claim)
        if held is not None:
            return JSONResponse(self._placed(held))
        address = client_address(request)
        wait = self.limits.place(address, claim.lane_id, self._now())
        if wait > 0:
            log.warning("help.call.throttled lane=%s remote=%s", claim.lane_id, address)
            raise Throttled(
                "throttled",
                "too many calls from here or at this lane: try again later",
                retry_after=retry_after(wait),
            )
        call = await self.calls.place_phone_call(claim.lane_id, caller=None)
        self._secrets[call_secret(self._key, call.id)] = call.id
        self.presence.expect(call.id, self._now())
        self._rearm()
        log.info("help.call.placed call=%s lane=%s remote=%s", call.id, claim.lane_id, address)
        return JSONResponse(self._placed(call), status_code=201)

    async def state(self, request: Request) -> Response:
        call = await self._following(request)
        return JSONResponse(self._view(call.id))

    async def hang_up(self, request: Request) -> Response:
        """The driver hangs up (the button, or the page closing): abandoned if nobody
        answered, ended if someone did."""
        call = await self._following(request)
        await self.calls.hang_up(call.id)
        self.presence.forget(call.id)
        self._rearm()
        return JSONResponse(self._view(call.id))

    async def voice(self, request: Request) -> Response:
        """The phone's offer of its microphone; the answer carries the voice of the
        agent who holds the call (README, "The help page": how the voice goes)."""
        call = await self._following(request)
        # An offer with a few dozen candidates is ~10 KB; the default body limit is tight.
        sdp = _offer_sdp(await read_json(request, 4 * self.settings.max_body_bytes))
        if call.finished:
            raise CallEnded("call_ended", "the call is over")
        wait = self.limits.offer(call.id, self._now())
        if wait > 0:
            raise Throttled(
                "throttled", "too many offers for this call", retry_after=retry_after(wait)
            )
        try:
            answer = await self.bridge.connect_phone(call.id, sdp)
        except OfferRefused as exc:
            raise BadRequest(exc.code, exc.detail) from exc
        except CallOver as exc:
            raise CallEnded("call_ended", exc.detail) from exc
        return JSONResponse({"type": "answer", "sdp": answer})

    # ------------------------------------------------------------- the stream

    async def stream(self, websocket: WebSocket) -> None:
        """The call's state, now and at each change, to a page that proved it is the
        phone's by sending ``{"secret": ...}`` first."""
        await websocket.accept()
        if not same_origin(websocket):
            await _close(websocket, CLOSE_CROSS_ORIGIN, "cross-origin page")
            return
        params = websocket.path_params
        try:
            claim = await self._claim(websocket, str(params["token"]))
            call = self._call_at(claim, str(params["call_id"]))
        except ConsoleError as exc:
            await _close(websocket, CLOSE_UNKNOWN, exc.code)
            return
        if not await self._hello(websocket, call.id):
            await _close(websocket, CLOSE_WRONG_SECRET, "send the call's secret first")
            return
        if self.presence.streams(call.id) >= MAX_STREAMS:
            await _close(websocket, CLOSE_TOO_MANY, "too many pages follow this call")
            return
        self.presence.opened(call.id)
        self._rearm()
        wake = asyncio.Event()
        self._wakes.add(wake)
        reader = asyncio.create_task(_until_disconnect(websocket, wake))
        try:
            await self._follow(websocket, call.id, wake, reader)
        except _PEER_GONE as exc:
            log.info("help.stream.lost call=%s error=%r", call.id, exc)
        finally:
            reader.cancel()
            self._wakes.discard(wake)
            self.presence.closed(call.id, self._now())
            self._rearm()

    async def _hello(self, websocket: WebSocket, call_id: str) -> bool:
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                first = await websocket.receive_text()
            secret = json.loads(first).get("secret")
        except (TimeoutError, KeyError, ValueError, AttributeError, *_PEER_GONE):
            return False
        return isinstance(secret, str) and secret_matches(self._key, call_id, secret)

    async def _follow(
        self, websocket: WebSocket, call_id: str, wake: asyncio.Event, reader: asyncio.Task[None]
    ) -> None:
        sent: dict[str, Any] | None = None
        while not reader.done():
            view = self._view(call_id)
            if view != sent:
                await websocket.send_text(json.dumps({"type": "call", "call": view}))
                sent = view
            if view["state"] == PhoneState.ENDED:
                await _close(websocket, CLOSE_OVER, "the call is over")
                return
            wake.clear()
            await wake.wait()

    def _stepped(self) -> None:
        """A step of the call queue: streams look again (a state or a place in the
        queue may have changed), and calls that are over are forgotten."""
        for wake in self._wakes:
            wake.set()
        for secret, call_id in list(self._secrets.items()):
            if self._over(call_id):
                del self._secrets[secret]
                self.presence.forget(call_id)
        self._rearm()

    # ------------------------------------------------------------- pages gone

    def _rearm(self) -> None:
        if self._timer is not None:
            self._timer.cancel()
            self._timer = None
        deadline = self.presence.deadline
        if deadline is not None and self._running:
            self._timer = asyncio.get_running_loop().call_at(deadline, self._due)

    def _due(self) -> None:
        self._timer = None
        for call_id in self.presence.due(self._now()):
            log.info("help.call.gone call=%s", call_id)
            self._spawn(self._gone(call_id))
        self._rearm()

    async def _gone(self, call_id: str) -> None:
        try:
            await self.calls.hang_up(call_id)
        except ConsoleError as exc:
            log.error("help.call.hang_up_failed call=%s code=%s", call_id, exc.code)

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # ------------------------------------------------------------- helpers

    async def _claim(self, conn: Request | WebSocket, token: str) -> StickerClaim:
        """The lane of a sticker the centre stands by; ``StickerRefused`` (404) else."""
        try:
            return await check_sticker(self.store, self._key, token)
        except ConsoleError as exc:
            log.info("help.sticker.refused reason=%s remote=%s", exc.code, client_address(conn))
            raise

    def _call_at(self, claim: StickerClaim, call_id: str) -> Call:
        """A phone call placed from the sticker's lane; ``unknown_call`` (404) else."""
        try:
            call = self.calls.queue.call(call_id)
        except UnknownCall:
            raise UnknownCall("unknown_call", "no such call from this sticker") from None
        if call.source is not Source.PHONE or call.lane_id != claim.lane_id:
            raise UnknownCall("unknown_call", "no such call from this sticker")
        return call

    async def _following(self, request: Request) -> Call:
        """The call a request is about, if the request carries its secret."""
        claim = await self._claim(request, str(request.path_params["token"]))
        call = self._call_at(claim, str(request.path_params["call_id"]))
        secret = request.headers.get(SECRET_HEADER, "")
        if not secret_matches(self._key, call.id, secret):
            raise Forbidden("wrong_secret", f"send the call's secret in {SECRET_HEADER}")
        return call

    def _held(self, request: Request, claim: StickerClaim) -> Call | None:
        """The open call at this lane whose secret the request carries, if any."""
        call_id = self._secrets.get(request.headers.get(SECRET_HEADER, ""))
        if call_id is None or self._over(call_id):
            return None
        call = self.calls.queue.call(call_id)
        return call if call.lane_id == claim.lane_id else None

    def _over(self, call_id: str) -> bool:
        try:
            return self.calls.queue.call(call_id).finished
        except UnknownCall:
            return True

    def _placed(self, call: Call) -> dict[str, Any]:
        return {
            "call_id": call.id,
            "secret": call_secret(self._key, call.id),
            "call": self._view(call.id),
            "ice_servers": self._stun_servers,
        }

    def _view(self, call_id: str) -> dict[str, Any]:
        queue = self.calls.queue
        try:
            call = queue.call(call_id)
        except UnknownCall:  # finished long ago, and forgotten
            return {
                "call_id": call_id,
                "state": PhoneState.ENDED.value,
                "position": None,
                "ending": None,
            }
        return phone_view(call, queue.position(call_id))

    def _now(self) -> float:
        return asyncio.get_running_loop().time()


def _offer_sdp(body: object) -> str:
    fields = json_object(body)
    sdp = fields.get("sdp")
    if not isinstance(sdp, str) or not sdp:
        raise BadRequest("bad_request", "'sdp' must be the phone's offer SDP")
    if fields.get("type") != "offer":
        raise BadRequest("bad_request", "'type' must be \"offer\"")
    return sdp


def _stun_urls(urls: str | list[str]) -> list[str]:
    return [url for url in ([urls] if isinstance(urls, str) else urls) if url.startswith("stun:")]


async def _until_disconnect(websocket: WebSocket, wake: asyncio.Event) -> None:
    """Read (and ignore) what the page sends, to notice when it goes away."""
    with contextlib.suppress(*_PEER_GONE):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    wake.set()


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    with contextlib.suppress(*_PEER_GONE):
        await websocket.close(code, reason)
