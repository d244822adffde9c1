"""Keeping a lane's media device running: its failures become lane faults the console
shows, raised once when it goes down and cleared once when it delivers again."""

from __future__ import annotations

import contextlib
import logging
from collections.abc import AsyncGenerator, Callable
from typing import Protocol

from gates.backoff import Backoff
from gates.lane.faults import Faults
from media.errors import MediaError
from media.units import MediaUnit

log = logging.getLogger("seat.lane")

CAMERA_FAULT = "camera_unavailable"
TRANSCODING_FAULT = "camera_transcoding"
MIC_FAULT = "microphone_unavailable"


class Source(Protocol):
    def units(self) -> AsyncGenerator[MediaUnit, None]: ...


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
        # Closed here, in this task, when the loop ends or is cancelled: a device's
        # generator left to the garbage collector would close its FFmpeg process or
        # sound card from wherever the collector runs, or not at all.
        async with contextlib.aclosing(source.units()) as units:
            async for unit in units:
                if faults.clear(fault):
                    backoff.reset()
                deliver(unit)
        detail = "the source's stream ended"
    except MediaError as exc:
        detail = exc.detail
    log.warning("lane.media.source_down lane=%s fault=%s detail=%s", lane, fault, detail)
    faults.raise_fault(fault, detail)
