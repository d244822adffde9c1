"""One lane's feed as the switchboard keeps it: who watches it, what the lane was asked
to stream, the media connection that carries it, and the intercom floor. Pure state
and the rules that touch nothing else; the switchboard (``media.centre.switchboard``)
finds the feed and carries on from what these return.

The media connection: a lane's units reach viewers on one continuous clock across its
media connections (a reconnect splices in with one frame's or packet's gap), the
current GOP is kept for a viewer that joins, and keyframe requests are paced.

The floor: one voice at a lane. A talking viewer takes it when it is free, or when it
was reserved for its user; ``reserve`` holds it for a user before any viewer exists
(an agent a call is routed to), until ``release``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

from gates.protocol import Media
from media.buffers import GopCache, Timeline
from media.centre.actions import (
    Action,
    Announce,
    AskKeyframe,
    CloseUpstream,
    CloseViewer,
    Notify,
    Upstream,
)
from media.centre.viewing import FloorChanged, StreamChanged, Viewing
from media.errors import IntercomBusy
from media.messages import CloseCode
from media.units import AUDIO_CLOCK, VIDEO_CLOCK, Kind, MediaUnit


@dataclass(slots=True)
class Hold:
    user: str
    viewer: str | None  # the talking viewer speaking through it
    reserved: bool  # held for the user until released, not only while a viewer talks


@dataclass(slots=True)
class Feed:
    lane: str
    online: bool
    stream: str | None = None
    upstream: Upstream | None = None
    asked: Media | None = None
    hold: Hold | None = None
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

    # ------------------------------------------------------------- the floor

    def reserve(self, user: str) -> list[Action]:
        """Hold the intercom for ``user`` until ``release``; raises ``IntercomBusy`` if
        another user holds it."""
        if self.hold is not None and self.hold.user != user:
            raise _busy(self.hold.user, self.lane)
        if self.hold is not None:
            self.hold.reserved = True
            return []
        self.hold = Hold(user, viewer=None, reserved=True)
        return [Announce(FloorChanged(self.lane, user))]

    def release(self, user: str) -> list[Action]:
        """``user`` gives up the intercom; a viewer talking through it is closed.
        Nothing happens if ``user`` does not hold it."""
        if self.hold is None or self.hold.user != user:
            return []
        talker, self.hold = self.hold.viewer, None
        actions: list[Action] = [Announce(FloorChanged(self.lane, None))]
        if talker is not None:
            actions.insert(0, CloseViewer(talker, "the intercom was released"))
        return actions

    def take_floor(self, viewing: Viewing) -> list[Action]:
        user = viewing.watcher.username
        hold = self.hold
        if hold is None:
            self.hold = Hold(user, viewer=viewing.id, reserved=False)
            return [Announce(FloorChanged(self.lane, user))]
        if hold.user == user and hold.viewer is None:
            hold.viewer = viewing.id  # reserved for this user
            return []
        raise _busy(hold.user, self.lane)

    def drop_floor(self, viewer_id: str) -> list[Action]:
        hold = self.hold
        if hold is None or hold.viewer != viewer_id:
            return []
        if hold.reserved:
            hold.viewer = None
            return []
        self.hold = None
        return [Announce(FloorChanged(self.lane, None))]

    # ------------------------------------------------------------- the media connection

    def open_upstream(self, upstream: Upstream) -> list[Action]:
        """``upstream`` carries the lane's stream from now on, replacing (and closing)
        the one that did."""
        previous, self.upstream = self.upstream, upstream
        self.video_time.restart()
        self.audio_time.restart()
        self.gop.clear()
        if previous is not None:
            reason = "replaced by a newer media connection"
            return [CloseUpstream(previous, CloseCode.REPLACED, reason)]
        return [Announce(StreamChanged(self.lane, True))]

    def close_upstream(self, upstream: Upstream) -> list[Action]:
        if self.upstream != upstream:
            return []  # replaced or refused: the lane's stream goes on
        self.upstream = None
        return [Announce(StreamChanged(self.lane, False))]

    def take(self, upstream: Upstream, unit: MediaUnit) -> MediaUnit | None:
        """A unit from the lane, on the lane's one continuous clock, for every viewer;
        None from a media connection that is no longer the lane's."""
        if self.upstream != upstream:
            return None
        timeline = self.video_time if unit.kind is Kind.VIDEO else self.audio_time
        unit = MediaUnit(
            unit.kind, unit.seq, timeline.map(unit.pts), unit.captured, unit.data, unit.keyframe
        )
        if unit.kind is Kind.VIDEO:
            self.gop.add(unit)
        return unit

    def want_keyframe(self, now: float, interval_s: float) -> list[Action]:
        """A viewer cannot decode until the next keyframe. The lane is asked at most
        once per ``interval_s``; a request within it is asked when it ends."""
        if self.upstream is None:
            return []  # a new media connection starts at a keyframe anyway
        if now - self.keyframe_asked >= interval_s:
            self.keyframe_asked = now
            self.keyframe_due = None
            return [AskKeyframe(self.upstream)]
        if self.keyframe_due is None:
            self.keyframe_due = self.keyframe_asked + interval_s
        return []

    def stop(self) -> list[Action]:
        """Nobody watched for the grace time: the lane stops and hangs up."""
        assert self.stream is not None
        actions: list[Action] = [Notify(self.lane, Media(self.stream, video=False, audio=False))]
        if self.upstream is not None:
            actions.append(CloseUpstream(self.upstream, CloseCode.NOT_WANTED, "nobody is watching"))
            actions.append(Announce(StreamChanged(self.lane, False)))
        self.stream = self.asked = self.upstream = None
        self.idle_until = self.keyframe_due = None
        self.gop.clear()
        return actions


def _busy(holder: str, lane: str) -> IntercomBusy:
    return IntercomBusy(f"{holder} is on the intercom of lane {lane}", holder=holder)
