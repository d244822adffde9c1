"""The console's live feed: one WebSocket per browser tab at ``/api/stream``.

On connect it sends every lane; then each lane change, and (for supervisors) each new
audit entry. A tab too slow to keep up is closed rather than buffered without bound; it
reconnects and starts again from a fresh list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime

from starlette.websockets import WebSocket, WebSocketDisconnect

from gates.crash import closed_on_crash
from gates.hub import LaneHub
from gates.status import LaneStatus

from .audit import AuditLog
from .directory import Directory
from .errors import ConsoleError
from .ledger import AuditEntry
from .live import LiveLogins
from .models import Role
from .views import lane_json
from .web import authenticate, encode_json, same_origin

log = logging.getLogger("seat.console")

QUEUE_LIMIT = 1000
CLOSE_UNAUTHORISED = 4401  # the console goes back to its login page
CLOSE_CROSS_ORIGIN = 4403
CLOSE_TOO_SLOW = 1013  # "try again later": the tab reconnects and resyncs

# Starlette raises RuntimeError for a send after the tab's socket closed.
_PEER_GONE = (WebSocketDisconnect, OSError, RuntimeError)


@dataclass(frozen=True, slots=True)
class _End:
    """Queued to end a stream whose login no longer stands; ``reason`` says why."""

    reason: str


class Streams:
    def __init__(
        self, directory: Directory, hub: LaneHub, audit: AuditLog, live: LiveLogins
    ) -> None:
        self.directory = directory
        self.hub = hub
        self.audit = audit
        self.live = live
        self._queues: set[asyncio.Queue[object]] = set()

    def lane_changed(self, lane_id: str) -> None:
        """A lane's record (name, car park) changed, or a lane was added: every tab
        gets it now, not at the lane's next status change."""
        record = self.directory.known_lane(lane_id)
        if record is None:
            return
        item = {"type": "lane", "lane": lane_json(record, self.hub.status(lane_id))}
        for queue in self._queues:
            _push(queue, item)

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if not same_origin(websocket):
            await websocket.close(CLOSE_CROSS_ORIGIN, "cross-origin page")
            return
        try:
            user, session = await authenticate(websocket, self.directory)
        except ConsoleError as exc:
            await websocket.close(CLOSE_UNAUTHORISED, exc.detail)
            return

        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_LIMIT)

        def on_lane(status: LaneStatus) -> None:
            record = self.directory.known_lane(status.lane)
            if record is not None:  # a lane not (or no longer) registered is not shown
                _push(queue, {"type": "lane", "lane": lane_json(record, status)})

        def on_audit(entry: AuditEntry) -> None:
            _push(queue, {"type": "audit", "entry": entry.to_json()})

        unsubscribe = [self.hub.subscribe(on_lane)]
        if user.role.allows(Role.SUPERVISOR):
            unsubscribe.append(self.audit.subscribe(on_audit))
        unsubscribe.append(self.live.hold(session, user, lambda why: _push(queue, _End(why))))
        self._queues.add(queue)
        reader = asyncio.create_task(_until_disconnect(websocket, queue))
        loop = asyncio.get_running_loop()
        expires = loop.time() + (session.expires_at - datetime.now(UTC)).total_seconds()
        try:
            async with closed_on_crash(websocket, log, "console.stream.crashed", _PEER_GONE):
                lanes = self.directory.lanes()
                first = [lane_json(lane, self.hub.status(lane.id)) for lane in lanes]
                await websocket.send_text(encode_json({"type": "lanes", "lanes": first}))
                await _pump(websocket, queue, expires)
        except _PEER_GONE as exc:
            log.info("console.stream.lost user=%s error=%r", user.username, exc)
        finally:
            reader.cancel()
            for stop in unsubscribe:
                stop()
            self._queues.discard(queue)


async def _pump(websocket: WebSocket, queue: asyncio.Queue[object], expires: float) -> None:
    while True:
        try:
            async with asyncio.timeout_at(expires):
                item = await queue.get()
        except TimeoutError:
            await websocket.close(CLOSE_UNAUTHORISED, "the session has ended")
            return
        if isinstance(item, _End):
            await websocket.close(CLOSE_UNAUTHORISED, item.reason)
            return
        if item is _DISCONNECTED:
            return
        if item is _OVERFLOW:
            await websocket.close(CLOSE_TOO_SLOW, "too far behind; reconnect")
            return
        await websocket.send_text(encode_json(item))


_DISCONNECTED = object()
_OVERFLOW = object()


def _push(queue: asyncio.Queue[object], item: object) -> None:
    try:
        queue.put_nowait(item)
    except asyncio.QueueFull:
        # Make room for the overflow marker itself: the tab is closed and resyncs.
        with contextlib.suppress(asyncio.QueueEmpty):
            queue.get_nowait()
        queue.put_nowait(_OVERFLOW)


async def _until_disconnect(websocket: WebSocket, queue: asyncio.Queue[object]) -> None:
    """Read (and ignore) what the tab sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    _push(queue, _DISCONNECTED)
