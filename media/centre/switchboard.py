"""The centre's live media as a state machine with no I/O: each lane's feed (who
watches it, which media connection carries it, what the lane was asked to stream), the
intercom floor, and the times that run out.

``MediaBridge`` feeds it what happened, with the time (``now``, monotonic seconds), and
carries out the actions it returns (``media.centre.actions``): tell a lane what to
stream, ask it for a keyframe, pass a voice on, close a media connection, a viewer or a
phone, announce a change.
Nothing here awaits, so every rule below is tested with literals and no sockets.

Times that run out (``deadline`` is the next, ``expire(now)`` acts on those passed):

* a viewer that has not connected ``connect_s`` after its answer went out is closed: a
  browser that vanished while connecting never fails on its own when its offer named
  no end of candidates (Chromium's does not);
* a lane nobody has watched for ``grace_s`` is asked to stop streaming;
* a keyframe wanted within ``keyframe_interval_s`` of the last request is asked for
  when that interval is up, not dropped.

The floor: one voice at a lane. A talking viewer takes it when it is free, or when it
was reserved for its user; ``reserve`` holds it for a user before any viewer exists
(an agent a call is routed to), until ``release``.

Phone calls (the help page): each call is a *line* at the lane whose sticker placed it
(``media.centre.lines``), held by the agent who answered it. While an agent holds a
line, their viewers of that lane carry the caller's voice *instead of* the lane's
microphone (``HearPhone``; the lane's sound is not sent to them, nor asked of the lane
for them), and their talking viewers' speech goes to the caller's phone
(``SpeakToPhone``) instead of the lane's speaker, without taking the lane's floor: the
lane's intercom stays free for a lane call at the same lane. They still see the lane's
camera. A holder with no viewer of the lane open yet hears nothing of the caller until
they open one, and may open one while the lane is offline (no picture, the caller's
voice). The caller's voice before an answer goes nowhere.

Listening in (a supervisor's quality monitoring): a *listener* is a viewer that carries
sound without talking, whose user takes no part in a call at the lane (neither the
floor's holder nor a phone call's). A listener hears both sides, on two tracks: the
customer on the first, the agent on the second (``HearAgent``, the agent's Opus packets
as they come, on one clock per lane; the browser plays both, nothing is mixed here).
While an agent holds a phone call at the lane (the first, if several), its listeners
hear that call: the caller in place of the lane's microphone and the holder's speech
(and may listen while the lane is offline, as its holder may watch); otherwise the
lane's microphone (the driver) and the floor holder's speech. A holder is never a
listener, so no agent hears their own voice come back.
"""

from __future__ import annotations

import math
import uuid
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field

from gates.protocol import Media
from media.buffers import GopCache, Timeline
from media.centre.actions import (
    Action,
    Announce,
    AskKeyframe,
    Burst,
    ClosePhone,
    CloseUpstream,
    CloseViewer,
    HearAgent,
    HearPhone,
    Notify,
    Speak,
    SpeakToPhone,
    Upstream,
)
from media.centre.lines import Line, PhoneLines
from media.centre.viewing import (
    FloorChanged,
    StreamChanged,
    ViewerJoined,
    ViewerLeft,
    Viewing,
)
from media.errors import CallOver, IntercomBusy, LaneOffline
from media.messages import CloseCode
from media.units import AUDIO_CLOCK, VIDEO_CLOCK, Kind, MediaUnit

# Opus packets from browsers are 20 ms; the lane's speaker needs a pts clock only.
SPEECH_STEP = AUDIO_CLOCK // 50


@dataclass(slots=True)
class _Hold:
    user: str
    viewer: str | None  # the talking viewer speaking through it
    reserved: bool  # held for the user until released, not only while a viewer talks


@dataclass(slots=True)
class _Feed:
    lane: str
    online: bool
    stream: str | None = None
    upstream: Upstream | None = None
    asked: Media | None = None
    hold: _Hold | None = None
    viewers: dict[str, Viewing] = field(default_factory=dict)
    joined: dict[str, float] = field(default_factory=dict)
    gop: GopCache = field(default_factory=GopCache)
    # A splice between upstreams leaves one frame's (15 fps) or one packet's gap.
    video_time: Timeline = field(default_factory=lambda: Timeline(step=VIDEO_CLOCK // 15))
    audio_time: Timeline = field(default_factory=lambda: Timeline(step=AUDIO_CLOCK // 50))
    idle_until: float | None = None
    keyframe_asked: float = -math.inf
    keyframe_due: float | None = None
    speech_seq: int = 0
    heard_seq: int = 0  # the agent's packets sent to listeners so far


class Switchboard:
    def __init__(
        self,
        *,
        grace_s: float = 10.0,
        connect_s: float = 10.0,
        keyframe_interval_s: float = 1.0,
        new_stream: Callable[[], str] = lambda: uuid.uuid4().hex,
    ) -> None:
        self.grace_s = grace_s
        self.connect_s = connect_s
        self.keyframe_interval_s = keyframe_interval_s
        self._new_stream = new_stream
        self._feeds: dict[str, _Feed] = {}
        self._pending: dict[str, Viewing] = {}  # admitted, answer not yet out
        self._lane_of: dict[str, str] = {}  # joined viewer -> lane
        self._connect_by: dict[str, float] = {}
        self._lines = PhoneLines()

    # ------------------------------------------------------------- queries

    def viewers(self, lane: str | None = None) -> list[Viewing]:
        feeds = self._feeds.values() if lane is None else self._some(lane)
        return [viewing for feed in feeds for viewing in feed.viewers.values()]

    def viewer(self, viewer_id: str) -> Viewing | None:
        lane = self._lane_of.get(viewer_id)
        return None if lane is None else self._feeds[lane].viewers[viewer_id]

    def audience(self, lane: str, kind: Kind) -> Iterable[str]:
        """The ids of the viewers a unit of ``lane`` of ``kind`` goes to: every viewer
        for video; for the lane's sound, those that carry sound but for agents on a
        phone call there and, while one is, its listeners (they hear the caller)."""
        feed = self._feeds.get(lane)
        if feed is None:
            return ()
        if kind is Kind.VIDEO:
            return feed.viewers.keys()
        return self._hearing_lane(feed)

    def streaming(self, lane: str) -> bool:
        """Whether the lane's media connection is up."""
        return self.upstream(lane) is not None

    def upstream(self, lane: str) -> Upstream | None:
        feed = self._feeds.get(lane)
        return None if feed is None else feed.upstream

    def holder(self, lane: str) -> str | None:
        """Who holds the lane's intercom floor."""
        feed = self._feeds.get(lane)
        return None if feed is None or feed.hold is None else feed.hold.user

    @property
    def deadline(self) -> float | None:
        """When ``expire`` next has something to do."""
        times = [*self._connect_by.values()]
        for feed in self._feeds.values():
            times += [t for t in (feed.idle_until, feed.keyframe_due) if t is not None]
        return min(times, default=None)

    # ------------------------------------------------------------- viewers

    def admit(self, viewing: Viewing, *, online: bool, now: float) -> list[Action]:
        """A browser asks to watch; raises ``LaneOffline`` or ``IntercomBusy`` and
        changes nothing, or holds its place (and the floor, to talk) while the centre
        answers its offer. An offline lane admits the holder of a phone call there and
        those listening in on it: they hear the call."""
        on_phone = self._lines.held(viewing.lane, viewing.watcher.username) is not None
        listening = viewing.listen and not viewing.talk
        hears_call = listening and self._lines.answered(viewing.lane) is not None
        if not online and not on_phone and not hears_call:
            raise LaneOffline(f"lane {viewing.lane} is offline")
        feed = self._feed(viewing.lane, online)
        actions = self._take_floor(feed, viewing) if viewing.talk and not on_phone else []
        self._pending[viewing.id] = viewing
        return actions

    def join(self, viewer_id: str, now: float) -> list[Action]:
        """The answer went out: the viewer gets units from now on, and must connect
        within ``connect_s``."""
        viewing = self._pending.pop(viewer_id)
        feed = self._feeds[viewing.lane]
        feed.viewers[viewer_id] = viewing
        feed.joined[viewer_id] = now
        feed.idle_until = None
        self._lane_of[viewer_id] = viewing.lane
        self._connect_by[viewer_id] = now + self.connect_s
        burst = feed.gop.burst()
        actions: list[Action] = [Burst(viewer_id, tuple(burst))] if burst else []
        actions.append(Announce(ViewerJoined(viewing)))
        return actions + self._ask(feed)

    def connected(self, viewer_id: str) -> list[Action]:
        self._connect_by.pop(viewer_id, None)
        return []

    def leave(self, viewer_id: str, now: float) -> list[Action]:
        """The viewer is gone, however it ended (also one whose offer failed)."""
        pending = self._pending.pop(viewer_id, None)
        if pending is not None:
            return self._drop_floor(self._feeds[pending.lane], viewer_id)
        lane = self._lane_of.pop(viewer_id, None)
        if lane is None:
            return []
        feed = self._feeds[lane]
        viewing = feed.viewers.pop(viewer_id)
        seconds = now - feed.joined.pop(viewer_id)
        self._connect_by.pop(viewer_id, None)
        actions: list[Action] = [Announce(ViewerLeft(viewing, seconds))]
        actions += self._drop_floor(feed, viewer_id)
        if feed.viewers:
            actions += self._ask(feed)
        elif feed.stream is not None:
            feed.idle_until = now + self.grace_s
        return actions

    # ------------------------------------------------------------- the floor

    def reserve(self, lane: str, user: str) -> list[Action]:
        """Hold the lane's intercom for ``user`` until ``release``; raises
        ``IntercomBusy`` if another user holds it."""
        feed = self._feed(lane, online=False)
        if feed.hold is not None and feed.hold.user != user:
            raise _busy(feed.hold.user, lane)
        if feed.hold is not None:
            feed.hold.reserved = True
            return []
        feed.hold = _Hold(user, viewer=None, reserved=True)
        return [Announce(FloorChanged(lane, user))]

    def release(self, lane: str, user: str) -> list[Action]:
        """``user`` gives up the lane's intercom; a viewer talking through it is closed.
        Nothing happens if ``user`` does not hold it."""
        feed = self._feeds.get(lane)
        if feed is None or feed.hold is None or feed.hold.user != user:
            return []
        talker, feed.hold = feed.hold.viewer, None
        actions: list[Action] = [Announce(FloorChanged(lane, None))]
        if talker is not None:
            actions.insert(0, CloseViewer(talker, "the intercom was released"))
        return actions

    def speech(self, viewer_id: str, packet: bytes, captured: float) -> list[Action]:
        """A talking viewer's Opus packet: on to the caller if its user holds a phone
        call at the lane, else on to the lane if it holds the floor; and to the lane's
        listeners when they hear that call."""
        lane = self._lane_of.get(viewer_id)
        feed = self._feeds[lane] if lane is not None else None
        if feed is None:
            return []
        line = self._lines.held(feed.lane, feed.viewers[viewer_id].watcher.username)
        if line is not None:
            spoken = self._to_phone(line, packet, captured)
            if line is self._lines.answered(feed.lane):
                spoken += self._to_listeners(feed, packet, captured)
            return spoken
        if feed.hold is None or feed.hold.viewer != viewer_id:
            return []
        actions: list[Action] = []
        if feed.upstream is not None:
            feed.speech_seq += 1
            seq = feed.speech_seq
            unit = MediaUnit(Kind.AUDIO, seq, seq * SPEECH_STEP, captured, packet)
            actions.append(Speak(feed.upstream, unit))
        if self._lines.answered(feed.lane) is None:  # else its listeners hear a phone call
            actions += self._to_listeners(feed, packet, captured)
        return actions

    # ------------------------------------------------------------- phone calls

    def line(self, line_id: str, lane: str, holder: str | None) -> list[Action]:
        """Phone call ``line_id`` at ``lane`` is held by ``holder`` now (None: nobody
        answered it, or it went back to the queue)."""
        if not self._lines.put(line_id, lane, holder):
            return []
        return self._ask_again(lane)

    def end_line(self, line_id: str) -> list[Action]:
        """The phone call is over: its phone is closed."""
        line = self._lines.remove(line_id)
        if line is None:
            return []
        actions: list[Action] = []
        if line.phone is not None:
            actions.append(ClosePhone(line.phone, "the call is over"))
        return actions + self._ask_again(line.lane)

    def phone_joined(self, line_id: str, phone: str) -> list[Action]:
        """The caller's phone offered its voice for the call: it carries the call from
        now on, replacing an earlier connection of the page. Raises ``CallOver`` for a
        call that is over, and changes nothing."""
        line = self._lines.get(line_id)
        if line is None:
            raise CallOver(f"call {line_id} is over")
        previous = self._lines.connect(line, phone)
        if previous is None:
            return []
        return [ClosePhone(previous, "replaced by the page's new connection")]

    def phone_left(self, phone: str) -> list[Action]:
        self._lines.disconnect(phone)
        return []

    def phone_voice(self, phone: str, unit: MediaUnit) -> list[Action]:
        """The caller's Opus packet: to every viewer of the lane that carries sound and
        belongs to the agent who holds the call, and to the lane's listeners if theirs
        is this call; nowhere before an answer."""
        line = self._lines.of_phone(phone)
        if line is None:
            return []
        heard = MediaUnit(Kind.AUDIO, unit.seq, line.heard.map(unit.pts), unit.captured, unit.data)
        feed = self._feeds.get(line.lane)
        if line.holder is None or feed is None:
            return []
        hearing = [
            viewing.id
            for viewing in feed.viewers.values()
            if viewing.listen and viewing.watcher.username == line.holder
        ]
        if line is self._lines.answered(line.lane):
            hearing += self._listeners(feed)
        return [HearPhone(viewer, heard) for viewer in hearing]

    def _to_phone(self, line: Line, packet: bytes, captured: float) -> list[Action]:
        if line.phone is None:
            return []
        line.spoken += 1
        unit = MediaUnit(Kind.AUDIO, line.spoken, line.spoken * SPEECH_STEP, captured, packet)
        return [SpeakToPhone(line.phone, unit)]

    def _to_listeners(self, feed: _Feed, packet: bytes, captured: float) -> list[Action]:
        listeners = self._listeners(feed)
        if not listeners:
            return []
        feed.heard_seq += 1
        seq = feed.heard_seq
        unit = MediaUnit(Kind.AUDIO, seq, seq * SPEECH_STEP, captured, packet)
        return [HearAgent(viewer, unit) for viewer in listeners]

    def _listeners(self, feed: _Feed) -> list[str]:
        """The viewers listening in on the lane's calls: with sound, without a
        microphone, of nobody who takes part in a call there."""
        taking_part = self._lines.holders(feed.lane)
        if feed.hold is not None:
            taking_part.add(feed.hold.user)
        return [
            viewing.id
            for viewing in feed.viewers.values()
            if viewing.listen and not viewing.talk and viewing.watcher.username not in taking_part
        ]

    def _hearing_lane(self, feed: _Feed) -> list[str]:
        """The viewers that carry the lane's microphone."""
        on_phone = self._lines.holders(feed.lane)
        listening = set()
        if self._lines.answered(feed.lane) is not None:  # they hear the caller instead
            listening = set(self._listeners(feed))
        return [
            viewing.id
            for viewing in feed.viewers.values()
            if viewing.listen
            and viewing.watcher.username not in on_phone
            and viewing.id not in listening
        ]

    # ------------------------------------------------------------- the lane

    def lane_status(self, lane: str, online: bool) -> list[Action]:
        """The lane's link came up or went down: a lane that reconnected has forgotten
        what it was asked."""
        feed = self._feeds.get(lane)
        if feed is None or feed.online == online:
            return []
        feed.online = online
        feed.asked = None
        return self._ask(feed) if online and feed.viewers else []

    def upstream_opened(self, lane: str, stream: str, upstream: Upstream) -> list[Action]:
        """An authenticated media connection for ``stream``: it becomes the lane's, or
        is closed if that stream is not wanted."""
        feed = self._feeds.get(lane)
        if feed is None or feed.stream != stream:
            return [CloseUpstream(upstream, CloseCode.NOT_WANTED, "no such stream is wanted")]
        previous, feed.upstream = feed.upstream, upstream
        feed.video_time.restart()
        feed.audio_time.restart()
        feed.gop.clear()
        if previous is not None:
            reason = "replaced by a newer media connection"
            return [CloseUpstream(previous, CloseCode.REPLACED, reason)]
        return [Announce(StreamChanged(lane, True))]

    def upstream_closed(self, lane: str, upstream: Upstream) -> list[Action]:
        feed = self._feeds.get(lane)
        if feed is None or feed.upstream != upstream:
            return []  # replaced or refused: the lane's stream goes on
        feed.upstream = None
        return [Announce(StreamChanged(lane, False))]

    def take(self, lane: str, upstream: Upstream, unit: MediaUnit) -> MediaUnit | None:
        """A unit from the lane, on the lane's one continuous clock, for every viewer;
        None from a media connection that is no longer the lane's."""
        feed = self._feeds.get(lane)
        if feed is None or feed.upstream != upstream:
            return None
        timeline = feed.video_time if unit.kind is Kind.VIDEO else feed.audio_time
        unit = MediaUnit(
            unit.kind, unit.seq, timeline.map(unit.pts), unit.captured, unit.data, unit.keyframe
        )
        if unit.kind is Kind.VIDEO:
            feed.gop.add(unit)
        return unit

    def keyframe_wanted(self, lane: str, now: float) -> list[Action]:
        """A viewer cannot decode until the next keyframe. The lane is asked at most
        once per ``keyframe_interval_s``; a request within it is asked when it ends."""
        feed = self._feeds.get(lane)
        if feed is None or feed.upstream is None:
            return []  # a new media connection starts at a keyframe anyway
        if now - feed.keyframe_asked >= self.keyframe_interval_s:
            feed.keyframe_asked = now
            feed.keyframe_due = None
            return [AskKeyframe(feed.upstream)]
        if feed.keyframe_due is None:
            feed.keyframe_due = feed.keyframe_asked + self.keyframe_interval_s
        return []

    # ------------------------------------------------------------- time

    def expire(self, now: float) -> list[Action]:
        actions: list[Action] = []
        for viewer_id, by in list(self._connect_by.items()):
            if by <= now:
                del self._connect_by[viewer_id]
                reason = f"not connected within {self.connect_s:g} s"
                actions.append(CloseViewer(viewer_id, reason))
        for feed in self._feeds.values():
            if feed.keyframe_due is not None and feed.keyframe_due <= now:
                feed.keyframe_due = None
                actions += self.keyframe_wanted(feed.lane, now)
            if feed.idle_until is not None and feed.idle_until <= now:
                actions += self._stop(feed)
        return actions

    # ------------------------------------------------------------- helpers

    def _some(self, lane: str) -> list[_Feed]:
        return [self._feeds[lane]] if lane in self._feeds else []

    def _feed(self, lane: str, online: bool) -> _Feed:
        feed = self._feeds.get(lane)
        if feed is None:
            feed = self._feeds[lane] = _Feed(lane, online)
        elif online:
            feed.online = True
        return feed

    def _ask(self, feed: _Feed) -> list[Action]:
        """Tell the lane what to stream, when that changed and it can hear it."""
        if feed.stream is None:
            feed.stream = self._new_stream()
        wanted = Media(feed.stream, video=bool(feed.viewers), audio=bool(self._hearing_lane(feed)))
        if wanted == feed.asked or not feed.online:
            return []
        feed.asked = wanted
        return [Notify(feed.lane, wanted)]

    def _ask_again(self, lane: str) -> list[Action]:
        """Who hears the lane's sound changed: the lane is told if someone watches."""
        feed = self._feeds.get(lane)
        return self._ask(feed) if feed is not None and feed.viewers else []

    def _stop(self, feed: _Feed) -> list[Action]:
        """Nobody watched for the grace time: the lane stops and hangs up."""
        assert feed.stream is not None
        actions: list[Action] = [Notify(feed.lane, Media(feed.stream, video=False, audio=False))]
        if feed.upstream is not None:
            actions.append(CloseUpstream(feed.upstream, CloseCode.NOT_WANTED, "nobody is watching"))
            actions.append(Announce(StreamChanged(feed.lane, False)))
        feed.stream = feed.asked = feed.upstream = None
        feed.idle_until = feed.keyframe_due = None
        feed.gop.clear()
        return actions

    def _take_floor(self, feed: _Feed, viewing: Viewing) -> list[Action]:
        user = viewing.watcher.username
        hold = feed.hold
        if hold is None:
            feed.hold = _Hold(user, viewer=viewing.id, reserved=False)
            return [Announce(FloorChanged(feed.lane, user))]
        if hold.user == user and hold.viewer is None:
            hold.viewer = viewing.id  # reserved for this user
            return []
        raise _busy(hold.user, feed.lane)

    def _drop_floor(self, feed: _Feed, viewer_id: str) -> list[Action]:
        hold = feed.hold
        if hold is None or hold.viewer != viewer_id:
            return []
        if hold.reserved:
            hold.viewer = None
            return []
        feed.hold = None
        return [Announce(FloorChanged(feed.lane, None))]


def _busy(holder: str, lane: str) -> IntercomBusy:
    return IntercomBusy(f"{holder} is on the intercom of lane {lane}", holder=holder)
