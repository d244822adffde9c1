"""The centre's media: one upstream per lane, fanned out to every viewer of that lane,
and the intercom between the lane and the agent who holds it.

A lane streams only while somebody watches: the first viewer makes the centre send a
``media`` message on the lane link, the lane dials the media connection
(``media.messages``), and a grace time after the last viewer leaves the centre asks it
to stop. Units arrive encoded and leave encoded; nothing here decodes a frame.
"""

from __future__ import annotations

import asyncio
import logging
import math
import time
import uuid
from collections.abc import Awaitable, Callable, Coroutine
from datetime import UTC, datetime
from typing import Any

from aiortc import RTCIceServer
from starlette.websockets import WebSocket, WebSocketDisconnect

from gates.errors import LinkError
from gates.hub import LaneHub
from gates.protocol import Media
from gates.status import LaneStatus

from .buffers import GopCache, Timeline
from .errors import IntercomBusy, LaneOffline, MediaError, OfferRefused
from .messages import CloseCode, KeyframeWanted, parse_hello
from .units import AUDIO_CLOCK, VIDEO_CLOCK, Kind, MediaUnit
from .viewer import Viewer, Watcher, parse_offer

log = logging.getLogger("seat.media")

Verifier = Callable[[str, str], Awaitable[bool]]
ViewerListener = Callable[[Viewer], None]

HELLO_TIMEOUT_S = 10.0
# Opus packets from browsers are 20 ms; the lane's speaker needs a pts clock only.
SPEECH_STEP = AUDIO_CLOCK // 50


class _Feed:
    """What the centre holds for one lane while anybody watches it."""

    def __init__(self, lane: str) -> None:
        self.lane = lane
        self.stream: str | None = None
        self.upstream: WebSocket | None = None
        self.gop = GopCache()
        # A splice between upstreams leaves one frame's (15 fps) or one packet's gap.
        self.video_time = Timeline(step=VIDEO_CLOCK // 15)
        self.audio_time = Timeline(step=AUDIO_CLOCK // 50)
        self.viewers: dict[str, Viewer] = {}
        self.talker: str | None = None
        self.idle: asyncio.TimerHandle | None = None
        self.asked: Media | None = None
        self.online = False
        self.keyframe_asked = -math.inf
        self.speech_seq = 0

    def wanted(self) -> Media:
        assert self.stream is not None
        video = bool(self.viewers)
        audio = any(viewer.listen for viewer in self.viewers.values())
        return Media(self.stream, video=video, audio=audio)


class MediaBridge:
    def __init__(
        self,
        hub: LaneHub,
        verify: Verifier,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        grace_s: float = 10.0,
        keyframe_interval_s: float = 1.0,
    ) -> None:
        self.hub = hub
        self.verify = verify
        self.ice_servers = ice_servers or []
        self.grace_s = grace_s
        self.keyframe_interval_s = keyframe_interval_s
        self._feeds: dict[str, _Feed] = {}
        self._closed_listeners: set[ViewerListener] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._change = asyncio.Event()
        hub.subscribe(self._lane_changed)

    # ----------------------------------------------------------------- queries

    def viewers(self, lane: str | None = None) -> list[Viewer]:
        if lane is None:
            feeds = list(self._feeds.values())
        else:
            feeds = [self._feeds[lane]] if lane in self._feeds else []
        return [viewer for feed in feeds for viewer in feed.viewers.values()]

    def streaming(self, lane: str) -> bool:
        """Whether the lane's media connection is up."""
        feed = self._feeds.get(lane)
        return feed is not None and feed.upstream is not None

    async def settled(self, check: Callable[[], bool]) -> None:
        """Return once ``check()`` holds, re-checking it whenever a viewer or an upstream
        comes or goes (for monitors and tests that wait on the media state)."""
        while not check():
            await self._change.wait()

    def _changed(self) -> None:
        self._change.set()
        self._change = asyncio.Event()

    def on_viewer_closed(self, listener: ViewerListener) -> Callable[[], None]:
        self._closed_listeners.add(listener)
        return lambda: self._closed_listeners.discard(listener)

    # ----------------------------------------------------------------- viewers

    async def watch(
        self, lane: str, sdp: str, watcher: Watcher, *, talk: bool, listen: bool
    ) -> tuple[Viewer, str]:
        """Answer a browser's offer to watch ``lane``; returns the viewer and the answer
        SDP. Raises a ``MediaError`` (offline lane, intercom taken, bad offer) before any
        peer connection is left behind."""
        offer = parse_offer(sdp, audio=talk or listen)
        if not self.hub.status(lane).online:
            raise LaneOffline(f"lane {lane} is offline")
        feed = self._feed(lane)
        if talk:
            _check_floor(feed)
        viewer = Viewer(
            uuid.uuid4().hex,
            lane,
            watcher,
            talk=talk,
            listen=listen,
            ice_servers=self.ice_servers,
            on_keyframe=lambda: self._ask_keyframe(feed),
            on_speech=lambda packet: self._speak(feed, packet),
            on_closed=self._viewer_closed,
        )
        try:
            answer = await viewer.answer(offer)
        except BaseException:
            await viewer.close()
            raise
        try:
            if talk:
                _check_floor(feed)  # taken while this offer was being answered?
            if viewer.closed:
                raise OfferRefused("peer_closed", "the browser's connection ended at once")
        except MediaError:
            await viewer.close()
            raise
        viewer.started_at = datetime.now(UTC)
        feed.viewers[viewer.id] = viewer
        if talk:
            feed.talker = viewer.id
        if feed.idle is not None:
            feed.idle.cancel()
            feed.idle = None
        for unit in feed.gop.burst():
            viewer.send(unit)
        log.info(
            "media.viewer.opened viewer=%s lane=%s user=%s talk=%s listen=%s viewers=%d",
            viewer.id,
            lane,
            watcher.username,
            talk,
            viewer.listen,
            len(feed.viewers),
        )
        self._changed()
        await self._ask(feed)
        return viewer, answer.sdp

    def viewer(self, viewer_id: str) -> Viewer | None:
        for feed in self._feeds.values():
            if viewer_id in feed.viewers:
                return feed.viewers[viewer_id]
        return None

    async def end_session(self, session: str) -> None:
        """Close every viewer of a console session that was logged out."""
        for viewer in self.viewers():
            if viewer.watcher.session == session:
                await viewer.close()

    async def close(self) -> None:
        for viewer in self.viewers():
            await viewer.close()
        for feed in self._feeds.values():
            if feed.idle is not None:
                feed.idle.cancel()
            if feed.upstream is not None:
                await _close(feed.upstream, 1001, "centre shutting down")
        for task in list(self._tasks):
            task.cancel()

    def _viewer_closed(self, viewer: Viewer) -> None:
        feed = self._feeds.get(viewer.lane)
        if feed is None or feed.viewers.pop(viewer.id, None) is None:
            return  # never joined: its offer failed
        if feed.talker == viewer.id:
            feed.talker = None
        log.info(
            "media.viewer.closed viewer=%s lane=%s user=%s viewers=%d",
            viewer.id,
            viewer.lane,
            viewer.watcher.username,
            len(feed.viewers),
        )
        for listener in list(self._closed_listeners):
            listener(viewer)
        self._changed()
        if feed.viewers:
            self._spawn(self._ask(feed))
        else:
            loop = asyncio.get_running_loop()
            feed.idle = loop.call_later(self.grace_s, lambda: self._spawn(self._stop(feed)))

    # ---------------------------------------------------------- the lane side

    async def _ask(self, feed: _Feed) -> None:
        """Tell the lane what to stream, when that changed or it came back online."""
        if feed.stream is None:
            feed.stream = uuid.uuid4().hex
        wanted = feed.wanted()
        if wanted == feed.asked:
            return
        if await self.hub.notify(feed.lane, wanted):
            feed.asked = wanted
            log.info(
                "media.upstream.asked lane=%s stream=%s video=%s audio=%s",
                feed.lane,
                wanted.stream,
                wanted.video,
                wanted.audio,
            )

    async def _stop(self, feed: _Feed) -> None:
        feed.idle = None
        if feed.viewers or feed.stream is None:
            return
        await self.hub.notify(feed.lane, Media(feed.stream, video=False, audio=False))
        log.info("media.upstream.stopped lane=%s stream=%s", feed.lane, feed.stream)
        feed.stream = None
        feed.asked = None
        feed.gop.clear()
        upstream, feed.upstream = feed.upstream, None
        self._changed()
        if upstream is not None:
            await _close(upstream, CloseCode.NOT_WANTED, "nobody is watching")

    def _lane_changed(self, status: LaneStatus) -> None:
        feed = self._feeds.get(status.lane)
        if feed is None or feed.online == status.online:
            return
        feed.online = status.online
        feed.asked = None  # a lane that reconnected has forgotten what it was asked
        if status.online and feed.viewers:
            self._spawn(self._ask(feed))

    async def serve(self, websocket: WebSocket) -> None:
        """The media connection endpoint: a lane's encoded units for one stream."""
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
        feed = self._feeds.get(hello.lane)
        if feed is None or feed.stream != hello.stream:
            await _close(websocket, CloseCode.NOT_WANTED, "no such stream is wanted")
            return
        previous, feed.upstream = feed.upstream, websocket
        if previous is not None:
            await _close(previous, CloseCode.REPLACED, "replaced by a newer media connection")
        feed.video_time.restart()
        feed.audio_time.restart()
        feed.gop.clear()
        log.info("media.upstream.opened lane=%s stream=%s", hello.lane, hello.stream)
        self._changed()
        try:
            await self._receive(feed, websocket)
        finally:
            if feed.upstream is websocket:
                feed.upstream = None
                self._changed()
            log.info("media.upstream.closed lane=%s stream=%s", hello.lane, hello.stream)

    async def _receive(self, feed: _Feed, websocket: WebSocket) -> None:
        while True:
            frame = await websocket.receive()
            if frame["type"] == "websocket.disconnect":
                return
            raw = frame.get("bytes")
            if raw is None:
                await _close(websocket, CloseCode.MALFORMED, "after media_hello only units")
                return
            try:
                unit = MediaUnit.parse(raw)
            except LinkError as exc:
                await _close(websocket, CloseCode.MALFORMED, f"{exc.code}: {exc.detail}"[:120])
                return
            self._fan_out(feed, unit)

    def _fan_out(self, feed: _Feed, unit: MediaUnit) -> None:
        timeline = feed.video_time if unit.kind is Kind.VIDEO else feed.audio_time
        unit = MediaUnit(
            unit.kind, unit.seq, timeline.map(unit.pts), unit.captured, unit.data, unit.keyframe
        )
        if unit.kind is Kind.VIDEO:
            feed.gop.add(unit)
        starved = False
        for viewer in feed.viewers.values():
            viewer.send(unit)
            starved = starved or viewer.video_queue.wants_keyframe
        if starved:
            self._ask_keyframe(feed)

    def _ask_keyframe(self, feed: _Feed) -> None:
        now = time.monotonic()
        upstream = feed.upstream
        if upstream is None or now - feed.keyframe_asked < self.keyframe_interval_s:
            return
        feed.keyframe_asked = now
        self._spawn(_send_text(upstream, KeyframeWanted().encode()))

    async def _speak(self, feed: _Feed, packet: bytes) -> None:
        """The talking agent's Opus packet, on to the lane's speaker as it came."""
        upstream = feed.upstream
        if upstream is None:
            return
        feed.speech_seq += 1
        unit = MediaUnit(
            Kind.AUDIO, feed.speech_seq, feed.speech_seq * SPEECH_STEP, time.time(), packet
        )
        try:
            await upstream.send_bytes(unit.encode())
        except (WebSocketDisconnect, RuntimeError, OSError) as exc:
            log.info("media.speech.send_failed lane=%s error=%r", feed.lane, exc)

    # ----------------------------------------------------------------- helpers

    def _feed(self, lane: str) -> _Feed:
        feed = self._feeds.get(lane)
        if feed is None:
            feed = self._feeds[lane] = _Feed(lane)
            feed.online = self.hub.status(lane).online
        return feed

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _check_floor(feed: _Feed) -> None:
    """One voice at the lane: raises ``IntercomBusy`` naming who holds it."""
    if feed.talker is not None:
        holder = feed.viewers[feed.talker].watcher.username
        raise IntercomBusy(f"{holder} is on the intercom of lane {feed.lane}", holder=holder)


async def _send_text(websocket: WebSocket, text: str) -> None:
    try:
        await websocket.send_text(text)
    except (WebSocketDisconnect, RuntimeError, OSError) as exc:
        log.info("media.upstream.send_failed error=%r", exc)


async def _close(websocket: WebSocket, code: int, reason: str) -> None:
    try:
        await websocket.close(code, reason)
    except (WebSocketDisconnect, RuntimeError, OSError) as exc:
        log.info("media.upstream.close_failed code=%d error=%r", code, exc)
