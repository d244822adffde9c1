"""The media connection's text messages. The README's "Media connection" section is the
reference; binary messages are ``MediaUnit``s (``media.units``).

The lane opens the media connection at ``MEDIA_PATH`` when a ``media`` message on its
lane link asks for a stream, so media, like the link, dials out through NAT. It is a
separate TCP connection so a second of video queued on a slow 4G uplink never delays a
gate command.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any, ClassVar

from gates.protocol import LINK_PATH
from gates.wire import Fields, Message, decode, ident, text

MEDIA_PATH = LINK_PATH + "/media"
MAX_TEXT_BYTES = 4096


class CloseCode:
    UNAUTHORISED = 4401  # unknown lane or wrong token (one reason for both)
    MALFORMED = 4400
    NOT_WANTED = 4410  # no such stream is wanted now: a stale or stopped one
    REPLACED = 4409  # a newer media connection for the same stream took over
    TIMEOUT = 4408


@dataclass(frozen=True, slots=True)
class MediaHello(Message):
    """lane -> centre, first message: which lane, its token, and the ``stream`` id the
    centre's ``media`` message named."""

    TYPE: ClassVar[str] = "media_hello"
    lane: str
    token: str
    stream: str

    def fields(self) -> dict[str, Any]:
        return {"lane": self.lane, "token": self.token, "stream": self.stream}

    @classmethod
    def from_fields(cls, fields: Fields) -> MediaHello:
        return cls(
            lane=ident(fields, "lane"),
            token=text(fields, "token", max_len=256),
            stream=ident(fields, "stream"),
        )


@dataclass(frozen=True, slots=True)
class KeyframeWanted(Message):
    """centre -> lane: a viewer cannot decode until the next keyframe; make one now if
    the camera can. A lane that cannot ignores it."""

    TYPE: ClassVar[str] = "keyframe"


_TO_CENTRE: dict[str, Callable[[Fields], Any]] = {MediaHello.TYPE: MediaHello.from_fields}
_TO_LANE: dict[str, Callable[[Fields], Any]] = {KeyframeWanted.TYPE: KeyframeWanted.from_fields}


def parse_hello(raw: str | bytes) -> MediaHello:
    """The media connection's first message; raises a ``LinkError`` naming the rule."""
    hello: MediaHello = decode(raw, MAX_TEXT_BYTES, _TO_CENTRE)
    return hello


def parse_to_lane(raw: str) -> KeyframeWanted:
    message: KeyframeWanted = decode(raw, MAX_TEXT_BYTES, _TO_LANE)
    return message


def media_url(link_url: str) -> str:
    """The media connection's URL beside a lane-link URL (``gates.lane.agent.link_url``)."""
    return link_url.rstrip("/") + MEDIA_PATH[len(LINK_PATH) :]
