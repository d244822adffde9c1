"""The centre's live media as a state machine with no I/O: each lane's feed (who
watches it, which media connection carries it, what the lane was asked to stream), the
intercom floor, and the times that run out.

``MediaBridge`` feeds it what happened, with the time (``now``, monotonic seconds), and
carries out the actions it returns (``media.centre.actions``): tell a lane what to
stream, ask it for a keyframe, pass a voice on, close a media connection, a viewer or a
phone, announce a change.
Nothing here awaits, so every rule (here, in ``media.centre.feed`` and in
``media.centre.voices``) is tested with literals and no sockets.

Times that run out (``deadline`` is the next, ``expire(now)`` acts on those passed):

* a viewer that has not connected ``connect_s`` after its answer went out is closed: a
  browser that vanished while connecting never fails on its own when its offer named
  no end of candidates (Chromium's does not);
* a lane nobody has watched for ``grace_s`` is asked to stop streaming;
* a keyframe wanted within ``keyframe_interval_s`` of the last request is asked for
  when that interval is up, not dropped.

One lane's feed and its intercom floor are ``media.centre.feed``; who hears whom (the
lane's microphone, an agent's speech, a phone caller's voice; listening in) is
``media.centre.voices``.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable, Iterable

from gates.protocol import Media
from media.centre.actions import (
    Action,
    Announce,
    Burst,
    ClosePhone,
    CloseUpstream,
    CloseViewer,
    Notify,
    Upstream,
)
from media.centre.feed import Feed
from media.centre.lines import PhoneLines
from media.centre.viewing import ViewerJoined, ViewerLeft, Viewing
from media.centre.voices import Voices
from media.errors import CallOver, LaneOffline
from media.messages import CloseCode
from media.units import Kind, MediaUnit


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
        self._feeds: dict[str, Feed] = {}
        self._pending: dict[str, Viewing] = {}  # admitted, answer not yet out
        self._lane_of: dict[str, str] = {}  # joined viewer -> lane
        self._connect_by: dict[str, float] = {}
        self._lines = PhoneLines()
        self._voices = Voices(self._lines)

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
        return self._voices.lane_sound(feed)

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
        actions = feed.take_floor(viewing) if viewing.talk and not on_phone else []
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
            return self._feeds[pending.lane].drop_floor(viewer_id)
        lane = self._lane_of.pop(viewer_id, None)
        if lane is None:
            return []
        feed = self._feeds[lane]
        viewing = feed.viewers.pop(viewer_id)
        seconds = now - feed.joined.pop(viewer_id)
        self._connect_by.pop(viewer_id, None)
        actions: list[Action] = [Announce(ViewerLeft(viewing, seconds))]
        actions += feed.drop_floor(viewer_id)
        if feed.viewers:
            actions += self._ask(feed)
        elif feed.stream is not None:
            feed.idle_until = now + self.grace_s
        return actions

    # ------------------------------------------------------------- the floor

    def reserve(self, lane: str, user: str) -> list[Action]:
        """Hold the lane's intercom for ``user`` until ``release``; raises
        ``IntercomBusy`` if another user holds it."""
        return self._feed(lane, online=False).reserve(user)

    def release(self, lane: str, user: str) -> list[Action]:
        """``user`` gives up the lane's intercom; a viewer talking through it is closed.
        Nothing happens if ``user`` does not hold it."""
        feed = self._feeds.get(lane)
        return [] if feed is None else feed.release(user)

    def speech(self, viewer_id: str, packet: bytes, captured: float) -> list[Action]:
        """A talking viewer's Opus packet, where ``Voices.speech`` says."""
        lane = self._lane_of.get(viewer_id)
        if lane is None:
            return []
        return self._voices.speech(self._feeds[lane], viewer_id, packet, captured)

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
        """The caller's Opus packet, where ``Voices.phone_voice`` says; nowhere from a
        phone that no longer carries a call."""
        line = self._lines.of_phone(phone)
        if line is None:
            return []
        return self._voices.phone_voice(line, self._feeds.get(line.lane), unit)

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
        return feed.open_upstream(upstream)

    def upstream_closed(self, lane: str, upstream: Upstream) -> list[Action]:
        feed = self._feeds.get(lane)
        return [] if feed is None else feed.close_upstream(upstream)

    def take(self, lane: str, upstream: Upstream, unit: MediaUnit) -> MediaUnit | None:
        """A unit from the lane for every viewer (``Feed.take``); None from a media
        connection that is no longer the lane's."""
        feed = self._feeds.get(lane)
        return None if feed is None else feed.take(upstream, unit)

    def keyframe_wanted(self, lane: str, now: float) -> list[Action]:
        """A viewer cannot decode until the next keyframe: the lane is asked at most
        once per ``keyframe_interval_s`` (``Feed.want_keyframe``)."""
        feed = self._feeds.get(lane)
        return [] if feed is None else feed.want_keyframe(now, self.keyframe_interval_s)

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
                actions += feed.want_keyframe(now, self.keyframe_interval_s)
            if feed.idle_until is not None and feed.idle_until <= now:
                actions += feed.stop()
        return actions

    # ------------------------------------------------------------- helpers

    def _some(self, lane: str) -> list[Feed]:
        return [self._feeds[lane]] if lane in self._feeds else []

    def _feed(self, lane: str, online: bool) -> Feed:
        feed = self._feeds.get(lane)
        if feed is None:
            feed = self._feeds[lane] = Feed(lane, online)
        elif online:
            feed.online = True
        return feed

    def _ask(self, feed: Feed) -> list[Action]:
        """Tell the lane what to stream, when that changed and it can hear it."""
        if feed.stream is None:
            feed.stream = self._new_stream()
        audio = bool(self._voices.lane_sound(feed))
        wanted = Media(feed.stream, video=bool(feed.viewers), audio=audio)
        if wanted == feed.asked or not feed.online:
            return []
        feed.asked = wanted
        return [Notify(feed.lane, wanted)]

    def _ask_again(self, lane: str) -> list[Action]:
        """Who hears the lane's sound changed: the lane is told if someone watches."""
        feed = self._feeds.get(lane)
        return self._ask(feed) if feed is not None and feed.viewers else []
