"""The lanes' media connections to this centre (``media.messages``): each let in by its
lane's token, checked again when the lane's record changes, its units handed to the
switchboard, and what the switchboard says to a lane sent back on it. The bridge
(``media.centre.bridge``) owns the switchboard; this is its lane side.
"""

from __future__ import annotations

import asyncio
import itertools
import logging
from collections.abc import Awaitable, Callable

from starlette.websockets import WebSocket, WebSocketDisconnect

from gates.errors import LinkError
from media.centre.actions import Action, AskKeyframe, CloseUpstream, Speak
from media.centre.switchboard import Switchboard
from media.messages import CloseCode, KeyframeWanted, parse_hello
from media.units import MediaUnit

log = logging.getLogger("seat.media")

Verifier = Callable[[str, str], Awaitable[bool]]

HELLO_TIMEOUT_S = 10.0
_KEYFRAME_WANTED = KeyframeWanted().encode()


class Upstreams:
    def __init__(
        self,
        board: Switchboard,
        verify: Verifier,
        act: Callable[[list[Action]], Awaitable[None]],
        later: Callable[[list[Action]], None],
        deliver: Callable[[str, MediaUnit], None],
    ) -> None:
        """``act`` carries out the switchboard's answer and waits for it, ``later`` in
        the caller's turn; ``deliver`` fans a lane's unit out to its viewers."""
        self.board = board
        self.verify = verify
        self._act = act
        self._later = later
        self._deliver = deliver
        self._upstreams: dict[int, WebSocket] = {}
        # The lane and token each media connection was let in with, checked again when
        # the lane's record changes (a rotated token).
        self._credentials: dict[int, tuple[str, str]] = {}
        self._upstream_ids = itertools.count(1)

    async def reverify(self, lane: str) -> None:
        """Check the token of each of ``lane``'s media connections again (its record
        changed); close with 4401 one whose token no longer opens the lane."""
        for upstream, (owner, token) in list(self._credentials.items()):
            if owner == lane and not await self.verify(lane, token):
                log.warning("media.upstream.revoked lane=%s", lane)
                websocket = self._upstreams.get(upstream)
                if websocket is not None:
                    await _close(websocket, CloseCode.UNAUTHORISED, "the lane's token was rotated")

    async def serve(self, websocket: WebSocket) -> None:
        """One media connection, from its hello to its close."""
        await websocket.accept()
        try:
            async with asyncio.timeout(HELLO_TIMEOUT_S):
                raw = await websocket.receive_text()
        except (TimeoutError, KeyError):  # KeyError: a binary frame came first
            await _close(websocket, CloseCode.MALFORMED, "send media_hello first, as text")
            return
        except WebSocketDisconnect:
            return
        try:
            hello = parse_hello(raw)
        except LinkError as exc:
            await _close(websocket, CloseCode.MALFORMED, exc.detail[:120])
            return
        if not await self.verify(hello.lane, hello.token):
            log.warning("media.upstream.refused lane=%s", hello.lane)
            await _close(websocket, CloseCode.UNAUTHORISED, "unknown lane or wrong token")
            return
        upstream = next(self._upstream_ids)
        self._upstreams[upstream] = websocket
        self._credentials[upstream] = (hello.lane, hello.token)
        try:
            await self._act(self.board.upstream_opened(hello.lane, hello.stream, upstream))
            if self.board.upstream(hello.lane) != upstream:
                return  # not wanted: closed
            log.info("media.upstream.opened lane=%s stream=%s", hello.lane, hello.stream)
            try:
                await self._receive(hello.lane, upstream, websocket)
            finally:
                log.info("media.upstream.closed lane=%s stream=%s", hello.lane, hello.stream)
        finally:
            del self._upstreams[upstream]
            del self._credentials[upstream]
            self._later(self.board.upstream_closed(hello.lane, upstream))

    async def _receive(self, lane: str, upstream: int, websocket: WebSocket) -> None:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            raw = frame.get("bytes")
            if raw is None:
                await _close(websocket, CloseCode.MALFORMED, "after media_hello only units")
                return
            try:
                unit = self.board.take(lane, upstream, MediaUnit.parse(raw))
            except LinkError as exc:
                await _close(websocket, CloseCode.MALFORMED, f"{exc.code}: {exc.detail}"[:120])
                return
            if unit is not None:
                self._deliver(lane, unit)

    async def send(self, action: AskKeyframe | Speak | CloseUpstream) -> None:
        websocket = self._upstreams.get(action.upstream)
        if websocket is None:
            return  # it closed meanwhile
        try:
            if isinstance(action, AskKeyframe):
                await websocket.send_text(_KEYFRAME_WANTED)
            elif isinstance(action, Speak):
                await websocket.send_bytes(action.unit.encode())
            else:
                await websocket.close(action.code, action.reason)
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.info("media.upstream.send_failed action=%s error=%r", type(action).__name__, exc)

    async def close(self) -> None:
        for websocket in list(self._upstreams.values()):
            await _close(websocket, 1001, "centre shutting down")


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await websocket.close(code, reason)
    except (WebSocketDisconnect, RuntimeError, OSError) as exc:
        log.info("media.upstream.close_failed code=%d error=%r", code, exc)
