"""The lane's end of the media connection: camera and microphone up, agent's voice down.

It streams only what the centre's latest ``media`` message asks for, over its own
outbound WebSocket, and drops nothing but whole GOPs when the uplink cannot keep up
(``KeyframeQueue``). The camera is kept open from the start (``media.lane.feed``), so a camera
that fails is a lane fault on the link whether or not anyone watches, and the console
says "camera down" instead of showing a frozen picture; it is retried. The microphone is
opened only while the centre asks for audio.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidHandshake, InvalidURI

from gates.backoff import Backoff
from gates.errors import LinkError
from gates.lane.drivers import LaneEvent
from gates.lane.faults import Faults
from gates.lane.targets import Target
from gates.protocol import Media
from media.buffers import KeyframeQueue
from media.lane.camera import Camera
from media.lane.feed import CameraFeed
from media.lane.sources import CAMERA_FAULT, MIC_FAULT, run_until_down
from media.lane.voice import Microphone, Speaker
from media.messages import KeyframeWanted, MediaHello, media_url, parse_to_lane
from media.units import MAX_UNIT_BYTES, Kind, MediaUnit

log = logging.getLogger("seat.lane")

# queue skips to the next keyframe rather than deliver an ever older picture.
SEND_QUEUE_BYTES = 512 * 1024


class Publisher:
    def __init__(
        self,
        lane: str,
        token: str,
        *,
        camera: Callable[[], Camera] | None,
        microphone: Callable[[], Microphone] | None,
        speaker: Speaker | None,
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.lane = lane
        self.token = token
        self.microphone = microphone
        self.speaker = speaker
        self.backoff = backoff
        self.wanted: Media | None = None
        # The centre the latest request came from: the stream is served there.
        self.centre: Target | None = None
        # They outlive a pump that is stopped and started again.
        self.faults = Faults()
        self.feed = CameraFeed(camera, lane, self.faults, backoff) if camera else None
        self._changed = asyncio.Event()
        self._stream: asyncio.Task[None] | None = None

    def want(self, media: Media, link: Target) -> None:
        """Follow the centre's latest ``media`` message, which came over ``link``: the
        media connection goes to the same centre, at the same address."""
        self.wanted = media if media.video or media.audio else None
        self.centre = link.beside(media_url(link.url))
        self._changed.set()

    def stop(self) -> None:
        """The lane link dropped: the centre forgets the stream and will ask again."""
        self.wanted = None
        self._changed.set()

    async def run(self, report: Callable[[LaneEvent], None]) -> None:
        """Keep the camera open and serve the centre's requests until cancelled; media
        faults go to ``report`` as lane events, like the driver's."""
        self.faults.report = report
        async with asyncio.TaskGroup() as tasks:
            if self.feed is not None:
                tasks.create_task(self.feed.run())
            tasks.create_task(self._follow())

    async def _follow(self) -> None:
        try:
            while True:
                await self._changed.wait()
                self._changed.clear()
                wanted, centre = self.wanted, self.centre
                # A stream is named for what it carries and where: a link moved to
                # another centre moves the stream with it, whatever its name there.
                name = None if wanted is None else f"{wanted.stream} {centre}"
                if self._stream is not None and self._stream.get_name() != name:
                    self._stream.cancel()
                    # gather, not a suppressed await: a cancel of run() itself must not
                    # be swallowed along with the stream's own.
                    await asyncio.gather(self._stream, return_exceptions=True)
                    self._stream = None
                if wanted is not None and centre is not None and self._stream is None:
                    self._stream = asyncio.create_task(
                        self._keep_streaming(centre, wanted.stream), name=name
                    )
        finally:
            if self._stream is not None:
                self._stream.cancel()

    async def _keep_streaming(self, centre: Target, stream: str) -> None:
        backoff = self.backoff()
        while True:
            try:
                async with connect(
                    centre.url,
                    max_size=2 * MAX_UNIT_BYTES,
                    open_timeout=10,
                    compression=None,
                    **centre.options(),
                ) as ws:
                    await ws.send(MediaHello(self.lane, self.token, stream).encode())
                    log.info(
                        "lane.media.opened lane=%s stream=%s centre=%s", self.lane, stream, centre
                    )
                    backoff.reset()
                    await self._serve(ws)
            except ConnectionClosed as exc:
                log.warning("lane.media.closed lane=%s stream=%s reason=%s", self.lane, stream, exc)
            except (OSError, InvalidHandshake, InvalidURI, TimeoutError) as exc:
                log.warning("lane.media.failed lane=%s error=%r", self.lane, exc)
            await asyncio.sleep(backoff.next())  # redial pacing: real time is the point

    async def _serve(self, ws: ClientConnection) -> None:
        queue = KeyframeQueue(SEND_QUEUE_BYTES)
        ready = asyncio.Event()

        def push(unit: MediaUnit) -> None:
            if len(unit.data) > MAX_UNIT_BYTES:
                # The centre would close the connection on it; drop it, and the video
                # up to the next keyframe that the dropped frame's successors need.
                log.warning("lane.media.unit_too_large lane=%s bytes=%d", self.lane, len(unit.data))
                queue.skip_to_keyframe()
                return
            if queue.push(unit):
                ready.set()

        pumps: dict[Kind, asyncio.Task[None]] = {}
        wire = [asyncio.create_task(self._read(ws)), asyncio.create_task(_write(ws, queue, ready))]
        try:
            while True:
                wanted = self.wanted
                self._set_pump(pumps, Kind.VIDEO, wanted is not None and wanted.video, push)
                self._set_pump(pumps, Kind.AUDIO, wanted is not None and wanted.audio, push)
                changed = asyncio.create_task(self._changed_flags())
                done, _ = await asyncio.wait([*wire, changed], return_when=asyncio.FIRST_COMPLETED)
                changed.cancel()
                for task in wire:
                    if task in done:
                        task.result()  # raises ConnectionClosed: the caller redials
                        return
        finally:
            for task in [*wire, *pumps.values()]:
                task.cancel()
            await asyncio.gather(*wire, *pumps.values(), return_exceptions=True)

    async def _changed_flags(self) -> None:
        await self._changed.wait()

    def _set_pump(
        self,
        pumps: dict[Kind, asyncio.Task[None]],
        kind: Kind,
        on: bool,
        push: Callable[[MediaUnit], None],
    ) -> None:
        running = pumps.get(kind)
        if on and running is None:
            pumps[kind] = asyncio.create_task(self._pump(kind, push))
        elif not on and running is not None:
            running.cancel()
            del pumps[kind]

    async def _pump(self, kind: Kind, push: Callable[[MediaUnit], None]) -> None:
        """Stream the camera's units, or keep the microphone open and streaming (a
        microphone that fails or ends is reported as a lane fault and retried with
        backoff), until cancelled."""
        if kind is Kind.VIDEO and self.feed is not None:
            stop = self.feed.watch(push)
            try:
                await asyncio.get_running_loop().create_future()  # until cancelled
            finally:
                stop()
        if kind is Kind.AUDIO and self.microphone is not None:
            backoff = self.backoff()
            while True:
                await run_until_down(
                    self.lane, self.microphone(), MIC_FAULT, self.faults, backoff, push
                )
                await asyncio.sleep(backoff.next())  # retry pacing for a device that is down
        # Asked for what this lane does not have: say so where the agent looks, rather
        # than leave a black picture or a silent line.
        fault = CAMERA_FAULT if kind is Kind.VIDEO else MIC_FAULT
        self.faults.raise_fault(fault, f"this lane agent has no {kind.value} source")

    async def _read(self, ws: ClientConnection) -> None:
        async for raw in ws:
            try:
                if isinstance(raw, str):
                    if isinstance(parse_to_lane(raw), KeyframeWanted) and self.feed:
                        self.feed.request_keyframe()
                    continue
                unit = MediaUnit.parse(raw)
            except LinkError as exc:
                log.warning(
                    "lane.media.problem lane=%s code=%s detail=%s", self.lane, exc.code, exc.detail
                )
                continue
            if unit.kind is Kind.AUDIO and self.speaker is not None:
                self.speaker.play(unit)


async def _write(ws: ClientConnection, queue: KeyframeQueue, ready: asyncio.Event) -> None:
    while True:
        unit = queue.pop()
        if unit is None:
            ready.clear()
            await ready.wait()
            continue
        await ws.send(unit.encode())
