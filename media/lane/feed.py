"""The lane's camera feed: one camera, kept open, whose units go up the media connection
only while the centre asks for them.

A real camera is opened when the lane agent starts and kept open whether anybody watches
or not, for three reasons measured on RTSP cameras: opening one costs 0.5-2 s that a
viewer would otherwise wait; a broken camera (a wrong URL, a dead cable) is a lane fault
in the console at once, not when an agent first opens the live view; and the current GOP
is at hand, so a new viewer's first frame costs a round trip. Nothing goes up the uplink
until someone watches. The simulator's camera (``always_on`` false) has no health to
watch and starts at a keyframe of its own in milliseconds, so it draws only while
watched.

Two clocks are kept straight here. A camera reopened after a failure starts its pts from
zero again, while viewers who stayed are still playing the old ones: the units' pts go on
from where they were by the time that passed (``LaneClock``). And the GOP a new viewer
starts from is up to a GOP old: sent with its own timestamps, a browser would replay it
at its pace and then show everything that long late, so it is stamped to be decoded at
once, the newest picture shown first (``catch_up``).
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable, Sequence
from dataclasses import replace

from gates.backoff import Backoff
from gates.lane.faults import Faults
from media.buffers import GopCache
from media.lane.camera import Camera
from media.lane.sources import CAMERA_FAULT, TRANSCODING_FAULT, run_until_down
from media.units import VIDEO_CLOCK, MediaUnit

log = logging.getLogger("seat.lane")

Push = Callable[[MediaUnit], None]


class LaneClock:
    """Maps the pts of each run of a camera onto one clock that keeps pace with real
    time. Pure: ``now`` is any monotonic clock in seconds."""

    def __init__(self) -> None:
        self._offset: int | None = None
        self._last: tuple[int, float] | None = None  # the latest pts handed out, and when

    def restart(self) -> None:
        """The next unit comes from a camera opened again."""
        self._offset = None

    def map(self, pts: int, now: float) -> int:
        if self._offset is None:
            if self._last is None:
                self._offset = 0
            else:
                last, at = self._last
                # At least one tick on: a reopen never repeats a timestamp.
                self._offset = last + max(1, round((now - at) * VIDEO_CLOCK)) - pts
        mapped = pts + self._offset
        if self._last is not None:
            mapped = max(mapped, self._last[0] + 1)
        self._last = (mapped, now)
        return mapped


def catch_up(gop: Sequence[MediaUnit]) -> list[MediaUnit]:
    """The current GOP for a viewer who joins now: each unit one tick (1/90,000 s) before
    the next, the last at its own pts. A browser then decodes them all on arrival and
    shows the newest picture at once, and live units carry on from it."""
    if not gop:
        return []
    last = gop[-1].pts
    return [replace(unit, pts=last - (len(gop) - 1 - i)) for i, unit in enumerate(gop)]


class CameraFeed:
    """One camera for the lane agent's life: ``run`` keeps it open (retrying with backoff,
    reporting ``camera_unavailable`` while it is down and ``camera_transcoding`` while it
    sends what the lane must encode again), ``watch`` hands its units to a media
    connection."""

    def __init__(
        self,
        opener: Callable[[], Camera],
        lane: str,
        faults: Faults,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.opener = opener
        self.lane = lane
        self.faults = faults
        self.backoff = backoff
        self.camera: Camera | None = None
        self._watchers: list[Push] = []
        self._gop = GopCache()
        self._clock = LaneClock()
        self._changed = asyncio.Event()

    @property
    def watched(self) -> bool:
        return bool(self._watchers)

    def watch(self, push: Push) -> Callable[[], None]:
        """Give ``push`` the current GOP now (``catch_up``), then every unit as it comes;
        returns the function that stops it."""
        for unit in catch_up(self._gop.burst()):
            push(unit)
        self._watchers.append(push)
        self._poke()

        def stop() -> None:
            if push in self._watchers:
                self._watchers.remove(push)
                self._poke()

        return stop

    def request_keyframe(self) -> None:
        if self.camera is not None:
            self.camera.request_keyframe()

    async def run(self) -> None:
        """Keep the camera open until cancelled: always, or while watched for a camera
        that is not ``always_on``."""
        backoff = self.backoff()
        while True:
            camera = self.camera = self.opener()
            if not camera.always_on:
                await self._until(lambda: self.watched)
            self._clock.restart()
            filming = asyncio.create_task(
                run_until_down(self.lane, camera, CAMERA_FAULT, self.faults, backoff, self._take)
            )
            unwatched = asyncio.create_task(
                asyncio.Event().wait()
                if camera.always_on
                else self._until(lambda: not self.watched)
            )
            try:
                await asyncio.wait([filming, unwatched], return_when=asyncio.FIRST_COMPLETED)
            finally:
                for task in (filming, unwatched):
                    task.cancel()
                await asyncio.gather(filming, unwatched, return_exceptions=True)
                self._gop.clear()  # what is cached belongs to a run that has ended
            if filming.cancelled():
                continue  # nobody watches a camera that is not always on
            filming.result()  # a bug in the feed must not pass for a camera fault
            await asyncio.sleep(backoff.next())  # retry pacing for a camera that is down

    def _take(self, unit: MediaUnit) -> None:
        camera = self.camera
        if camera is not None:
            if camera.transcoding is not None:
                self.faults.raise_fault(TRANSCODING_FAULT, camera.transcoding)
            else:
                self.faults.clear(TRANSCODING_FAULT)
        now = asyncio.get_running_loop().time()
        unit = replace(unit, pts=self._clock.map(unit.pts, now))
        self._gop.add(unit)
        for push in list(self._watchers):
            push(unit)

    def _poke(self) -> None:
        self._changed.set()
        self._changed = asyncio.Event()

    async def _until(self, check: Callable[[], bool]) -> None:
        while not check():
            await self._changed.wait()
