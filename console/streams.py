"""The console's live feed: one WebSocket per browser tab at ``/api/stream``.

On connect it sends every lane; then each lane change, and (for supervisors) each new
audit entry. A lane that changed several times before the tab could be sent it is sent
once, as it is now, so a lane changing fast cannot bury a tab. A tab too slow even for
that (ledger entries pile up) is closed rather than buffered without bound; it
reconnects and starts again from a fresh list.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from starlette.websockets import WebSocket, WebSocketDisconnect

from gates.centre.crash import closed_on_crash
from gates.centre.hub import LaneHub
from gates.centre.status import LaneStatus

from .audit import AuditLog
from .backlog import Backlog
from .directory import Directory
from .errors import ConsoleError
from .ledger import AuditEntry
from .live import LiveLogins
from .models import Role
from .views import lane_json
from .web import authenticate, encode_json, same_origin

log = logging.getLogger("seat.console")

# Ledger entries a tab may have waiting; lane changes replace one another and never
# count (see ``Backlog``). More than this and the tab is stuck: it is closed and resyncs.
QUEUE_LIMIT = 1000
CLOSE_UNAUTHORISED = 4401  # the console goes back to its login page
CLOSE_CROSS_ORIGIN = 4403
CLOSE_TOO_SLOW = 1013  # "try again later": the tab reconnects and resyncs

# Starlette raises RuntimeError for a send after the tab's socket closed.
_PEER_GONE = (WebSocketDisconnect, OSError, RuntimeError)


class Streams:
    def __init__(
        self, directory: Directory, hub: LaneHub, audit: AuditLog, live: LiveLogins
    ) -> None:
        self.directory = directory
        self.hub = hub
        self.audit = audit
        self.live = live
        self._tabs: set[_Tab] = set()

    def lane_changed(self, lane_id: str) -> None:
        """A lane's record (name, car park) changed, or a lane was added: every tab
        gets it now, not at the lane's next status change."""
        for tab in self._tabs:
            tab.push(_LaneChanged(lane_id), key=lane_id)

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

        tab = _Tab()

        def on_lane(status: LaneStatus) -> None:
            # Only the lane is queued: its record and status are read when the tab is
            # sent it, so a lane that changed many times since is sent once, as it is now.
            tab.push(_LaneChanged(status.lane), key=status.lane)

        def on_audit(entry: AuditEntry) -> None:
            tab.push({"type": "audit", "entry": entry.to_json()})

        unsubscribe = [self.hub.subscribe(on_lane)]
        if user.role.allows(Role.SUPERVISOR):
            unsubscribe.append(self.audit.subscribe(on_audit))
        unsubscribe.append(self.live.hold(session, user, tab.end))
        self._tabs.add(tab)
        reader = asyncio.create_task(_until_disconnect(websocket, tab))
        loop = asyncio.get_running_loop()
        expires = loop.time() + (session.expires_at - datetime.now(UTC)).total_seconds()
        try:
            async with closed_on_crash(websocket, log, "console.stream.crashed", _PEER_GONE):
                lanes = self.directory.lanes()
                first = [lane_json(lane, self.hub.status(lane.id)) for lane in lanes]
                await websocket.send_text(encode_json({"type": "lanes", "lanes": first}))
                await self._pump(websocket, tab, expires)
        except _PEER_GONE as exc:
            log.info("console.stream.lost user=%s error=%r", user.username, exc)
        finally:
            reader.cancel()
            for stop in unsubscribe:
                stop()
            self._tabs.discard(tab)

    async def _pump(self, websocket: WebSocket, tab: _Tab, expires: float) -> None:
        while not tab.gone:
            if tab.backlog.overflowed:
                await websocket.close(CLOSE_TOO_SLOW, "too far behind; reconnect")
                return
            if tab.ended is not None:
                await websocket.close(CLOSE_UNAUTHORISED, tab.ended)
                return
            item = tab.backlog.take()
            if item is None:
                tab.wake.clear()
                try:
                    async with asyncio.timeout_at(expires):
                        await tab.wake.wait()
                except TimeoutError:
                    await websocket.close(CLOSE_UNAUTHORISED, "the session has ended")
                    return
                continue
            if isinstance(item, _LaneChanged):
                record = self.directory.known_lane(item.lane)
                if record is None:
                    continue  # a lane not (or no longer) registered is not shown
                item = {"type": "lane", "lane": lane_json(record, self.hub.status(item.lane))}
            await websocket.send_text(encode_json(item))


@dataclass(frozen=True, slots=True)
class _LaneChanged:
    lane: str


class _Tab:
    """One tab's backlog, and why its stream must end, if it must."""

    def __init__(self) -> None:
        self.backlog: Backlog[_LaneChanged | dict[str, Any]] = Backlog(QUEUE_LIMIT)
        self.wake = asyncio.Event()
        self.ended: str | None = None  # why its login no longer stands
        self.gone = False

    def push(self, item: _LaneChanged | dict[str, Any], key: str | None = None) -> None:
        self.backlog.put(item, key)
        self.wake.set()

    def end(self, reason: str) -> None:
        self.ended = self.ended or reason
        self.wake.set()

    def lost(self) -> None:
        self.gone = True
        self.wake.set()


async def _until_disconnect(websocket: WebSocket, tab: _Tab) -> None:
    """Read (and ignore) what the tab sends, to notice when it goes away."""
    with contextlib.suppress(WebSocketDisconnect, OSError, RuntimeError):
        while (await websocket.receive())["type"] != "websocket.disconnect":
            pass
    tab.lost()
