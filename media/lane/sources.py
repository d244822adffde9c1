"""Keeping a lane's media device running: its failures become lane faults the console
shows, raised once when it goes down and cleared once when it delivers again."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator, Callable
from typing import Protocol

from gates.backoff import Backoff
from gates.lane.drivers import FaultRaised, LaneEvent
from media.errors import MediaError
from media.units import MediaUnit

log = logging.getLogger("seat.lane")

CAMERA_FAULT = "camera_unavailable"
TRANSCODING_FAULT = "camera_transcoding"
MIC_FAULT = "microphone_unavailable"


class Source(Protocol):
    def units(self) -> AsyncIterator[MediaUnit]: ...


class Faults:
    """The lane faults media reported and has not cleared, so each is raised and
    cleared once however often a device is retried. ``report`` is set when the lane
    agent starts; a fault before that is a bug."""

    def __init__(self) -> None:
        self.report: Callable[[LaneEvent], None] = _unreported
        self._down: set[str] = set()

    def raise_fault(self, code: str, detail: str) -> None:
        if code not in self._down:
            self._down.add(code)
            self.report(FaultRaised(code, detail))

    def clear(self, code: str) -> bool:
        """Clear ``code``; whether it had been raised."""
        if code not in self._down:
            return False
        self._down.discard(code)
        self.report(FaultRaised(code, "", active=False))
        return True


async def run_until_down(
    lane: str,
    source: Source,
    fault: str,
    faults: Faults,
    backoff: Backoff,
    deliver: Callable[[MediaUnit], None],
) -> None:
    """Hand ``source``'s units to ``deliver`` until it fails or ends, then raise
    ``fault`` saying why. Once it delivers, ``fault`` is cleared and the retry delays
    start again from the shortest."""
    try:
        async for unit in source.units():
            if faults.clear(fault):
                backoff.reset()
            deliver(unit)
        detail = "the source's stream ended"
    except MediaError as exc:
        detail = exc.detail
    log.warning("lane.media.source_down lane=%s fault=%s detail=%s", lane, fault, detail)
    faults.raise_fault(fault, detail)


def _unreported(event: LaneEvent) -> None:
    raise RuntimeError(f"a lane event before the lane agent started: {event!r}")
