"""The centre's media: one upstream per lane, fanned out to every viewer of that lane,
and the intercom between the lane and the agent who holds it.

A lane streams only while somebody watches: the first viewer makes the centre send a
``media`` message on the lane link, the lane dials the media connection
(``media.messages``), and a grace time after the last viewer leaves the centre asks it
to stop. Units arrive encoded and leave encoded; nothing here decodes a frame.

A phone call from a lane's help page has a peer connection of its own (``PhonePeer``);
the caller's voice and the agent's are routed between it and the agent's viewers of
that lane (the switchboard says how). A supervisor listening in hears both sides of a
call: the agent's packets go on to a second audio track of their viewer.

Every rule lives behind ``media.centre.switchboard.Switchboard`` (one lane's feed in
``media.centre.feed``, who hears whom in ``media.centre.voices``); this is its driver: it
feeds the switchboard what the sockets, the peer connections and the clock say, and
carries out what the switchboard returns.
"""

from __future__ import annotations

import asyncio
import logging
import time
import uuid
from collections.abc import Callable

from aiortc import RTCIceServer
from starlette.websockets import WebSocket

from gates.centre.hub import LaneHub
from gates.centre.status import LaneStatus
from media.centre.actions import (
    Action,
    Announce,
    Burst,
    ClosePhone,
    CloseViewer,
    HearAgent,
    HearPhone,
    Notify,
    SpeakToPhone,
)
from media.centre.phone import PhonePeer, parse_phone_offer
from media.centre.switchboard import Switchboard
from media.centre.upstreams import Upstreams, Verifier
from media.centre.viewer import Viewer, parse_offer
from media.centre.viewing import MediaEvent, ViewerJoined, ViewerLeft, Viewing, Watcher
from media.errors import OfferRefused
from media.units import MediaUnit

log = logging.getLogger("seat.media")

Listener = Callable[[MediaEvent], None]

# What is carried out in the caller's turn: nothing to await.
_AT_ONCE = (Announce, Burst, HearPhone, HearAgent, SpeakToPhone)


class MediaBridge:
    def __init__(
        self,
        hub: LaneHub,
        verify: Verifier,
        *,
        ice_servers: list[RTCIceServer] | None = None,
        grace_s: float = 10.0,
        connect_s: float = 10.0,
        keyframe_interval_s: float = 1.0,
    ) -> None:
        self.hub = hub
        self.ice_servers = ice_servers or []
        self.board = Switchboard(
            grace_s=grace_s, connect_s=connect_s, keyframe_interval_s=keyframe_interval_s
        )
        self._viewers: dict[str, Viewer] = {}
        self._phones: dict[str, PhonePeer] = {}
        self._listeners: set[Listener] = set()
        self._tasks: set[asyncio.Task[None]] = set()
        self._timer: asyncio.TimerHandle | None = None
        self._timer_at: float | None = None
        self.upstreams = Upstreams(self.board, verify, self._act, self._later, self._fan_out)
        hub.subscribe(self._lane_changed)

    # ----------------------------------------------------------------- queries

    def viewers(self, lane: str | None = None) -> list[Viewing]:
        return self.board.viewers(lane)

    def viewer(self, viewer_id: str) -> Viewing | None:
        return self.board.viewer(viewer_id)

    def streaming(self, lane: str) -> bool:
        """Whether the lane's media connection is up."""
        return self.board.streaming(lane)

    def floor_holder(self, lane: str) -> str | None:
        """Who holds the lane's intercom, talking or reserved."""
        return self.board.holder(lane)

    def subscribe(self, listener: Listener) -> Callable[[], None]:
        """Call ``listener`` with every change: a viewer joined or left (the ledger
        records both), a lane's stream came up or went, its intercom changed hands.
        Returns the unsubscriber."""
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    # ----------------------------------------------------------------- viewers

    async def watch(
        self, lane: str, sdp: str, watcher: Watcher, *, talk: bool, listen: bool
    ) -> tuple[Viewing, str]:
        """Answer a browser's offer to watch ``lane``; returns the viewer and the answer
        SDP. Raises a ``MediaError`` (offline lane, intercom taken, bad offer) before any
        peer connection is left behind."""
        offer = parse_offer(sdp, talk=talk, listen=listen)
        viewing = Viewing(uuid.uuid4().hex, lane, watcher, talk=talk, listen=listen or talk)
        admitted = self.board.admit(viewing, online=self.hub.status(lane).online, now=self._now())
        viewer = Viewer(
            viewing.id,
            lane,
            watcher,
            talk=talk,
            listen=listen,
            ice_servers=self.ice_servers,
            on_keyframe=lambda: self._later(self.board.keyframe_wanted(lane, self._now())),
            on_speech=lambda packet: self._speech(viewing.id, packet),
            on_connected=lambda: self._later(self.board.connected(viewing.id)),
            on_closed=self._viewer_closed,
        )
        self._viewers[viewing.id] = viewer
        try:
            await self._perform(admitted)
            answer = await viewer.answer(offer)
            if viewer.closed:
                raise OfferRefused("peer_closed", "the browser's connection ended at once")
        except BaseException:
            await viewer.close()  # leaves the switchboard, and frees the floor it took
            raise
        await self._act(self.board.join(viewing.id, self._now()))
        return viewing, answer.sdp

    def reserve_floor(self, lane: str, user: str) -> None:
        """Hold the lane's intercom for ``user`` before any viewer of theirs exists (an
        agent who answered the lane's call, whose console is opening the live view), so
        nobody else takes it first; their talking viewer takes it up. Raises
        ``IntercomBusy`` naming the holder, and changes nothing, if another user has it."""
        self._later(self.board.reserve(lane, user))

    def release_floor(self, lane: str, user: str) -> None:
        """``user`` gives the lane's intercom up (their call ended or moved on); a viewer
        of theirs talking through it is closed. Nothing happens if they do not hold it."""
        self._later(self.board.release(lane, user))

    async def release(self, viewer_id: str) -> bool:
        """Close a viewer now (and the intercom it held); False if there is none."""
        viewer = self._viewers.get(viewer_id)
        if viewer is None:
            return False
        await viewer.close()
        return True

    # ----------------------------------------------------------------- phones

    def open_line(self, line: str, lane: str, holder: str | None) -> None:
        """Phone call ``line`` from ``lane``'s help page is held by ``holder`` now
        (None: nobody answered it yet, or it went back to the queue)."""
        self._later(self.board.line(line, lane, holder))

    def end_line(self, line: str) -> None:
        """The phone call is over: its phone's peer connection is closed."""
        self._later(self.board.end_line(line))

    async def connect_phone(self, line: str, sdp: str) -> str:
        """Answer the caller's phone's offer for call ``line``; returns the answer SDP.
        Raises ``OfferRefused`` for a bad offer and ``CallOver`` for a call that is
        over, before any peer connection is left behind. A phone that offers again
        replaces its earlier connection."""
        offer = parse_phone_offer(sdp)
        phone_id = uuid.uuid4().hex
        joined = self.board.phone_joined(line, phone_id)
        phone = PhonePeer(
            phone_id,
            line,
            ice_servers=self.ice_servers,
            on_voice=lambda unit: self._act_now(self.board.phone_voice(phone_id, unit)),
            on_closed=self._phone_closed,
        )
        self._phones[phone_id] = phone
        try:
            await self._perform(joined)
            answer = await phone.answer(offer)
            if phone.closed:
                raise OfferRefused("peer_closed", "the phone's connection ended at once")
        except BaseException:
            await phone.close()  # leaves the line
            raise
        log.info("media.phone.opened phone=%s call=%s", phone_id, line)
        return answer.sdp

    def _phone_closed(self, phone: PhonePeer) -> None:
        self._phones.pop(phone.id, None)
        log.info("media.phone.closed phone=%s call=%s", phone.id, phone.line)
        self._later(self.board.phone_left(phone.id))

    async def close(self) -> None:
        for phone in list(self._phones.values()):
            await phone.close()
        for viewer in list(self._viewers.values()):
            await viewer.close()
        await self.upstreams.close()
        if self._timer is not None:
            self._timer.cancel()
        for task in list(self._tasks):
            task.cancel()

    def _viewer_closed(self, viewer: Viewer) -> None:
        self._viewers.pop(viewer.id, None)
        self._later(self.board.leave(viewer.id, self._now()))

    async def _speech(self, viewer_id: str, packet: bytes) -> None:
        """The talking agent's Opus packet, on to the lane's speaker (or the caller) and
        the listeners as it came."""
        await self._perform(self.board.speech(viewer_id, packet, time.time()))

    # ---------------------------------------------------------- the lane side

    async def serve(self, websocket: WebSocket) -> None:
        """The media connection endpoint: a lane's encoded units for one stream."""
        await self.upstreams.serve(websocket)

    async def reverify(self, lane: str) -> None:
        """Check the token of each of ``lane``'s media connections again (its record
        changed); close with 4401 one whose token no longer opens the lane."""
        await self.upstreams.reverify(lane)

    def _lane_changed(self, status: LaneStatus) -> None:
        self._later(self.board.lane_status(status.lane, status.online))

    def _fan_out(self, lane: str, unit: MediaUnit) -> None:
        starved = False
        for viewer_id in self.board.audience(lane, unit.kind):
            viewer = self._viewers[viewer_id]
            viewer.send(unit)
            starved = starved or viewer.video_queue.wants_keyframe
        if starved:
            self._later(self.board.keyframe_wanted(lane, self._now()))

    # ------------------------------------------------------- carrying it out

    def _later(self, actions: list[Action]) -> None:
        """Carry out what the switchboard said in answer to a callback (which cannot wait):
        announcements and bursts at once, so a viewer closed at shutdown still reaches
        the ledger, and what must be awaited in a task, in order."""
        self._rearm()
        waits: list[Action] = []
        for action in actions:
            if isinstance(action, _AT_ONCE):
                self._at_once(action)
            else:
                waits.append(action)
        if waits:
            task = asyncio.create_task(self._perform(waits))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    def _act_now(self, actions: list[Action]) -> None:
        """Route a voice in the caller's turn (the rest, if any, as ``_later``)."""
        rest: list[Action] = []
        for action in actions:
            if isinstance(action, _AT_ONCE):
                self._at_once(action)
            else:
                rest.append(action)
        if rest:
            self._later(rest)

    def _at_once(self, action: Announce | Burst | HearPhone | HearAgent | SpeakToPhone) -> None:
        if isinstance(action, Announce):
            self._announce(action.event)
        elif isinstance(action, Burst):
            self._burst(action)
        elif isinstance(action, HearPhone):
            viewer = self._viewers.get(action.viewer)
            if viewer is not None:
                viewer.send(action.unit)
        elif isinstance(action, HearAgent):
            viewer = self._viewers.get(action.viewer)
            if viewer is not None:
                viewer.hear_agent(action.unit)
        else:
            phone = self._phones.get(action.phone)
            if phone is not None:
                phone.send(action.unit)

    async def _act(self, actions: list[Action]) -> None:
        self._rearm()
        await self._perform(actions)

    async def _perform(self, actions: list[Action]) -> None:
        for action in actions:
            if isinstance(action, _AT_ONCE):
                self._at_once(action)
            elif isinstance(action, Notify):
                if await self.hub.notify(action.lane, action.media):
                    media = action.media
                    log.info(
                        "media.upstream.asked lane=%s stream=%s video=%s audio=%s",
                        action.lane,
                        media.stream,
                        media.video,
                        media.audio,
                    )
            elif isinstance(action, CloseViewer):
                log.info("media.viewer.reaped viewer=%s reason=%s", action.viewer, action.reason)
                await self.release(action.viewer)
            elif isinstance(action, ClosePhone):
                phone = self._phones.get(action.phone)
                if phone is not None:
                    log.info("media.phone.ended phone=%s reason=%s", action.phone, action.reason)
                    await phone.close()
            else:
                await self.upstreams.send(action)

    def _burst(self, burst: Burst) -> None:
        viewer = self._viewers.get(burst.viewer)
        if viewer is not None:
            for unit in burst.units:
                viewer.send(unit)

    def _announce(self, event: MediaEvent) -> None:
        if isinstance(event, ViewerJoined | ViewerLeft):
            viewing = event.viewing
            log.info(
                "media.viewer.%s viewer=%s lane=%s user=%s talk=%s listen=%s viewers=%d",
                "opened" if isinstance(event, ViewerJoined) else "closed",
                viewing.id,
                viewing.lane,
                viewing.watcher.username,
                viewing.talk,
                viewing.listen,
                len(self.board.viewers(viewing.lane)),
            )
        for listener in list(self._listeners):
            listener(event)

    def _rearm(self) -> None:
        """One timer, at the switchboard's next deadline."""
        at = self.board.deadline
        if at == self._timer_at:
            return
        if self._timer is not None:
            self._timer.cancel()
        self._timer_at = at
        self._timer = None if at is None else asyncio.get_running_loop().call_at(at, self._wake)

    def _wake(self) -> None:
        self._timer = self._timer_at = None
        self._later(self.board.expire(self._now()))

    def _now(self) -> float:
        return asyncio.get_running_loop().time()
