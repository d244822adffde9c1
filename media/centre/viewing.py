"""Who watches a lane, and the changes the centre's live media announces: a viewer
joined or left, a lane's stream came up or went, its intercom changed hands
(``MediaBridge.subscribe``; the ledger records viewers from these). Pure values."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Watcher:
    """Who is watching, for access checks and the audit ledger."""

    username: str
    role: str
    remote: str


@dataclass(frozen=True, slots=True)
class Viewing:
    """One viewer as the feeds know it. ``listen``: hears the lane (talkers do too)."""

    id: str
    lane: str
    watcher: Watcher
    talk: bool
    listen: bool


# ------------------------------------------------------------------ events


@dataclass(frozen=True, slots=True)
class ViewerJoined:
    viewing: Viewing


@dataclass(frozen=True, slots=True)
class ViewerLeft:
    viewing: Viewing
    seconds: float  # from joining to leaving


@dataclass(frozen=True, slots=True)
class StreamChanged:
    """The lane's media connection came up, or went (``streaming`` False)."""

    lane: str
    streaming: bool


@dataclass(frozen=True, slots=True)
class FloorChanged:
    lane: str
    holder: str | None


MediaEvent = ViewerJoined | ViewerLeft | StreamChanged | FloorChanged
