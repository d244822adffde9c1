"""What the switchboard (``media.centre.switchboard``) asks its driver, the media bridge,
to do: tell a lane what to stream, ask it for a keyframe, pass a voice on (to the lane,
a phone, a viewer or a listener), close a media connection, a viewer or a phone,
announce a change. Pure values."""

from __future__ import annotations

from dataclasses import dataclass

from gates.protocol import Media
from media.centre.viewing import MediaEvent
from media.units import MediaUnit

Upstream = int  # the driver's handle of one media connection


@dataclass(frozen=True, slots=True)
class Notify:
    """Send ``media`` on the lane's link: what it should stream now."""

    lane: str
    media: Media


@dataclass(frozen=True, slots=True)
class AskKeyframe:
    upstream: Upstream


@dataclass(frozen=True, slots=True)
class Speak:
    """The talking agent's Opus packet, to the lane's speaker."""

    upstream: Upstream
    unit: MediaUnit


@dataclass(frozen=True, slots=True)
class CloseUpstream:
    upstream: Upstream
    code: int
    reason: str


@dataclass(frozen=True, slots=True)
class Burst:
    """Send a joining viewer the current GOP, so it decodes at once."""

    viewer: str
    units: tuple[MediaUnit, ...]


@dataclass(frozen=True, slots=True)
class CloseViewer:
    viewer: str
    reason: str


@dataclass(frozen=True, slots=True)
class Announce:
    event: MediaEvent


@dataclass(frozen=True, slots=True)
class HearPhone:
    """The caller's Opus packet, to a viewer of the agent who holds the call."""

    viewer: str
    unit: MediaUnit


@dataclass(frozen=True, slots=True)
class HearAgent:
    """The agent's Opus packet (the floor holder's, or a phone call's holder's), to a
    listener's second audio track: a supervisor listening in hears both sides."""

    viewer: str
    unit: MediaUnit


@dataclass(frozen=True, slots=True)
class SpeakToPhone:
    """The holder's Opus packet, to the caller's phone."""

    phone: str
    unit: MediaUnit


@dataclass(frozen=True, slots=True)
class ClosePhone:
    phone: str
    reason: str


Action = (
    Notify
    | AskKeyframe
    | Speak
    | CloseUpstream
    | Burst
    | CloseViewer
    | Announce
    | HearPhone
    | HearAgent
    | SpeakToPhone
    | ClosePhone
)
