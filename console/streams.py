"""The console's live feed: one WebSocket per browser tab at ``/api/stream``.

On connect it sends every lane; then each lane change, and (for supervisors) each new
audit entry. A lane that changed several times before the tab could be sent it is sent
once, as it is now, so a lane changing fast cannot bury a tab. A tab too slow even for
that (ledger entries pile up) is closed rather than buffered without bound; it
reconnects and starts again from a fresh list.

News of one car park (a car held or owing, ``plate_alert``; an order's change,
``order``) goes only to the tabs of users who cover it (``User.covers``), as taken up
again when an account changes (``users_changed``).

A centre of several servers (``SEAT_REDIS_URL``) tells its news on all of them: what
one server ``tell``s, and its ledger's new entries, the others deliver to their own tabs
(``console.cluster.news``), each choosing by its tabs' users as above. When news may
have been missed there, every tab is sent the lane list again (``resync``), as on
connect, and a console reads again what it shows.

An open tab is also its user's presence at the console: the call service
(``console.calls.service``) hears of each tab opened and closed, greets a new tab with
the calls it shows, and publishes its own messages through ``publish``.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol

from starlette.websockets import WebSocket, WebSocketDisconnect

from gates.centre.crash import closed_on_crash
from gates.centre.status import LaneStatus

from .audience import SUPERVISORS, Audience
from .audit import AuditLog
from .backlog import Backlog
from .directory import Directory
from .errors import ConsoleError
from .lane_view import LaneView
from .ledger import AuditEntry
from .live import LiveLogins
from .models import LaneRecord, User
from .views import lane_json
from .web import authenticate, encode_json, same_origin

log = logging.getLogger("seat.console")

# Messages without a key (ledger entries, rings) a tab may have waiting; lane and call
# changes replace one another and never count (see ``Backlog``). More than this and the
# tab is stuck: it is closed and resyncs.
QUEUE_LIMIT = 1000
CLOSE_UNAUTHORISED = 4401  # the console goes back to its login page
CLOSE_CROSS_ORIGIN = 4403
CLOSE_TOO_SLOW = 1013  # "try again later": the tab reconnects and resyncs

# Starlette raises RuntimeError for a send after the tab's socket closed.
_PEER_GONE = (WebSocketDisconnect, OSError, RuntimeError)

Message = dict[str, Any]
Greet = Callable[[Message], None]


class Presence(Protocol):
    """Who hears of users' tabs coming and going (the call service)."""

    async def tab_opened(self, user: User, greet: Greet) -> None:
        """A tab of ``user`` is open; ``greet`` queues a message for it alone."""

    def tab_closed(self, user: User) -> None: ...


class Newswire(Protocol):
    """Who tells the other servers of a centre what this one tells its tabs."""

    def send(self, audience: Audience, message: Message, key: str | None) -> None: ...


class Streams:
    def __init__(
        self, directory: Directory, hub: LaneView, audit: AuditLog, live: LiveLogins
    ) -> None:
        self.directory = directory
        self.hub = hub
        self.audit = audit
        self.live = live
        self._tabs: set[_Tab] = set()
        self._presence: Presence | None = None
        self._lanes: dict[str, tuple[LaneRecord, LaneStatus, str]] = {}
        self._wire: Newswire | None = None
        audit.subscribe(self._audited)

    def set_presence(self, presence: Presence) -> None:
        self._presence = presence

    def publish(self, message_for: Callable[[str], Message | None], key: str | None = None) -> None:
        """Queue on every tab the message ``message_for(username)`` makes for its user;
        None leaves that user's tabs out. With a ``key`` the message replaces one of
        that key the tab has not been sent yet (see ``Backlog``): keys of lanes are lane
        ids, other keys hold a space, which no lane id does."""
        made: dict[str, Message | None] = {}
        # Each message is encoded once however many tabs get it (by identity: users
        # who are shown the same thing are given the same object).
        texts: dict[int, str] = {}
        for tab in self._tabs:
            if tab.username not in made:
                made[tab.username] = message_for(tab.username)
            message = made[tab.username]
            if message is None:
                continue
            text = texts.get(id(message))
            if text is None:
                text = texts[id(message)] = encode_json(message)
            tab.push(text, key)

    def set_wire(self, wire: Newswire) -> None:
        self._wire = wire

    def tell(
        self, audience: Audience, message: Message, key: str | None = None, *, here: bool = False
    ) -> None:
        """Queue ``message`` on the tabs of ``audience`` on every server of the centre,
        or on this server's alone when every server tells it by itself (``here``)."""
        self.deliver(audience, message, key)
        if self._wire is not None and not here:
            self._wire.send(audience, message, key)

    def deliver(self, audience: Audience, message: Message, key: str | None = None) -> None:
        """Queue ``message`` on this server's tabs of ``audience``."""
        users = {tab.username: tab.user for tab in self._tabs}
        self.publish(lambda name: message if audience.includes(users[name]) else None, key)

    def resync(self) -> None:
        """News may have been missed: every tab is sent the lane list again, as on
        connect, after which a console reads again what it shows (README, "Several
        servers")."""
        for tab in self._tabs:
            tab.push(_ALL_LANES, key=_ALL_LANES.key)

    def _audited(self, entry: AuditEntry) -> None:
        self.deliver(SUPERVISORS, {"type": "audit", "entry": entry.to_json()})

    async def users_changed(self, usernames: set[str]) -> None:
        """Accounts changed (``console.changes``): their open tabs take up the account
        as it is now, so a new coverage decides which car parks' news they get. A
        disabled account's tabs are ended by ``LiveLogins``, not here."""
        for tab in list(self._tabs):
            if tab.username in usernames:
                user = await self.directory.user(tab.username)
                if user is not None:
                    tab.user = user

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

        tab = _Tab(user)
        loop = asyncio.get_running_loop()

        def on_lane(status: LaneStatus) -> None:
            # Only the lane is queued: its record and status are read when the tab is
            # sent it, so a lane that changed many times since is sent once, as it is now.
            # Queued a turn of the loop later: a lane's message that starts a step (a
            # call button's press) has its ring queued first, and the rung agent's tab
            # sends it before every tab sends the lane.
            loop.call_soon(tab.push, _LaneChanged(status.lane), status.lane)

        unsubscribe = [self.hub.subscribe(on_lane), self.live.hold(session, user, tab.end)]
        self._tabs.add(tab)
        reader = asyncio.create_task(_until_disconnect(websocket, tab))
        expires = loop.time() + (session.expires_at - datetime.now(UTC)).total_seconds()
        present = False
        try:
            async with closed_on_crash(websocket, log, "console.stream.crashed", _PEER_GONE):
                await websocket.send_text(self._all_lanes_text())
                if self._presence is not None:
                    present = True
                    await self._presence.tab_opened(user, tab.push)
                await self._pump(websocket, tab, expires)
        except _PEER_GONE as exc:
            log.info("console.stream.lost user=%s error=%r", user.username, exc)
        finally:
            reader.cancel()
            for stop in unsubscribe:
                stop()
            self._tabs.discard(tab)
            if present and self._presence is not None:
                self._presence.tab_closed(user)

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
                text = self._lane_text(item.lane)
                if text is None:
                    continue  # a lane not (or no longer) registered is not shown
            elif isinstance(item, _AllLanes):
                text = self._all_lanes_text()
            else:
                text = item if isinstance(item, str) else encode_json(item)
            await websocket.send_text(text)

    def _all_lanes_text(self) -> str:
        lanes = [lane_json(lane, self.hub.status(lane.id)) for lane in self.directory.lanes()]
        return encode_json({"type": "lanes", "lanes": lanes})

    def _lane_text(self, lane_id: str) -> str | None:
        """The lane's message as it is now, encoded once for every tab that sends it
        before the lane changes again (a record or status is replaced, never changed)."""
        record = self.directory.known_lane(lane_id)
        if record is None:
            self._lanes.pop(lane_id, None)
            return None
        status = self.hub.status(lane_id)
        cached = self._lanes.get(lane_id)
        if cached is not None and cached[0] is record and cached[1] is status:
            return cached[2]
        text = encode_json({"type": "lane", "lane": lane_json(record, status)})
        self._lanes[lane_id] = (record, status, text)
        return text


@dataclass(frozen=True, slots=True)
class _LaneChanged:
    lane: str


@dataclass(frozen=True, slots=True)
class _AllLanes:
    """Every lane, as they are when the tab is sent them."""

    key: str = "lanes all"  # one waiting is enough


_ALL_LANES = _AllLanes()


class _Tab:
    """One tab's backlog, and why its stream must end, if it must."""

    def __init__(self, user: User) -> None:
        self.username = user.username
        self.user = user  # the account as last read: its coverage picks its news
        # A message to encode, or one published already encoded (``Streams.publish``).
        self.backlog: Backlog[_LaneChanged | _AllLanes | dict[str, Any] | str] = Backlog(
            QUEUE_LIMIT
        )
        self.wake = asyncio.Event()
        self.ended: str | None = None  # why its login no longer stands
        self.gone = False

    def push(
        self, item: _LaneChanged | _AllLanes | dict[str, Any] | str, key: str | None = None
    ) -> None:
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
