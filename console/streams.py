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
from .errors import ConsoleError
from .ledger import AuditEntry
from .models import LaneRecord, Role
from .store import Store
from .views import lane_json
from .web import authenticate, encode_json, same_origin

log = logging.getLogger("seat.console")

QUEUE_LIMIT = 1000
CLOSE_UNAUTHORISED = 4401  # the console goes back to its login page
CLOSE_CROSS_ORIGIN = 4403
CLOSE_TOO_SLOW = 1013  # "try again later": the tab reconnects and resyncs

# Starlette raises RuntimeError for a send after the tab's socket closed.
_PEER_GONE = (WebSocketDisconnect, OSError, RuntimeError)
_END = object()  # queued to end a stream whose session was logged out


class Streams:
    def __init__(self, store: Store, hub: LaneHub, audit: AuditLog) -> None:
        self.store = store
        self.hub = hub
        self.audit = audit
        self._by_session: dict[str, set[asyncio.Queue[object]]] = {}

    def end_session(self, token_hash: str) -> None:
        """Close every tab of a session that just logged out."""
        for queue in self._by_session.get(token_hash, ()):
            _push(queue, _END)

    async def serve(self, websocket: WebSocket) -> None:
        await websocket.accept()
        if not same_origin(websocket):
            await websocket.close(CLOSE_CROSS_ORIGIN, "cross-origin page")
            return
        try:
            user, session = await authenticate(websocket, self.store)
        except ConsoleError as exc:
            await websocket.close(CLOSE_UNAUTHORISED, exc.detail)
            return

        lanes = {lane.id: lane for lane in await self.store.list_lanes()}
        queue: asyncio.Queue[object] = asyncio.Queue(QUEUE_LIMIT)

        def on_lane(status: LaneStatus) -> None:
            if status.lane in lanes:
                _push(queue, {"type": "lane", "lane": lane_json(lanes[status.lane], status)})
            else:
                # Registered since this tab connected (or not at all): look it up.
                _push(queue, _NewLane(status.lane))

        def on_audit(entry: AuditEntry) -> None:
            _push(queue, {"type": "audit", "entry": entry.to_json()})

        unsubscribe = [self.hub.subscribe(on_lane)]
        if user.role.allows(Role.SUPERVISOR):
            unsubscribe.append(self.audit.subscribe(on_audit))
        tabs = self._by_session.setdefault(session.token_hash, set())
        tabs.add(queue)
        reader = asyncio.create_task(_until_disconnect(websocket, queue))
        loop = asyncio.get_running_loop()
        expires = loop.time() + (session.expires_at - datetime.now(UTC)).total_seconds()
        try:
            async with closed_on_crash(websocket, log, "console.stream.crashed", _PEER_GONE):
                first = [lane_json(lane, self.hub.status(lane.id)) for lane in lanes.values()]
                await websocket.send_text(encode_json({"type": "lanes", "lanes": first}))
                await self._pump(websocket, queue, expires, lanes)
        except _PEER_GONE as exc:
            log.info("console.stream.lost user=%s error=%r", user.username, exc)
        finally:
            reader.cancel()
            for stop in unsubscribe:
                stop()
            tabs.discard(queue)
            if not tabs:
                self._by_session.pop(session.token_hash, None)

    async def _pump(
        self,
        websocket: WebSocket,
        queue: asyncio.Queue[object],
        expires: float,
        lanes: dict[str, LaneRecord],
    ) -> None:
        while True:
            try:
                async with asyncio.timeout_at(expires):
                    item = await queue.get()
            except TimeoutError:
                await websocket.close(CLOSE_UNAUTHORISED, "the session has ended")
                return
            if item is _END:
                await websocket.close(CLOSE_UNAUTHORISED, "logged out")
                return
            if item is _DISCONNECTED:
                return
            if item is _OVERFLOW:
                await websocket.close(CLOSE_TOO_SLOW, "too far behind; reconnect")
                return
            if isinstance(item, _NewLane):
                record = await self.store.get_lane(item.lane)
                if record is None:
                    continue
                lanes[record.id] = record
                item = {"type": "lane", "lane": lane_json(record, self.hub.status(record.id))}
            await websocket.send_text(encode_json(item))


@dataclass(frozen=True, slots=True)
class _NewLane:
    lane: str


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
