"""The baseline for the media figures: a lane's camera and intercom answering viewer
peers directly, with no centre, no HTTP and no other process between.

It answers with the very peer the centre uses (``media.centre.viewer.Viewer``: H.264 passed
through, Opus passed through), starts the camera when the first viewer joins and stops
it when the last one leaves (so the next viewer is a cold start, like a lane the centre
must ask), sends a joining viewer the cached GOP (``media.buffers.GopCache``), and plays
the agent's voice on a ``RecordingSpeaker``. What the centre adds is measured against it.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable

from aiortc import RTCSessionDescription

from media.buffers import GopCache
from media.centre.viewer import Viewer
from media.centre.viewing import Watcher
from media.lane.camera import Camera
from media.lane.voice import Microphone, RecordingSpeaker
from media.units import MediaUnit

from .peers import speech_unit

WATCHER = Watcher(username="bench", role="agent", remote="127.0.0.1")


class DirectLane:
    def __init__(
        self,
        camera: Callable[[], Camera],
        *,
        microphone: Microphone | None = None,
        speaker: RecordingSpeaker | None = None,
    ) -> None:
        self.camera = camera
        self.microphone = microphone
        self.speaker = speaker
        self.viewers: dict[str, Viewer] = {}
        self._gop = GopCache()
        self._current: Camera | None = None
        self._filming: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        self._stopping: set[asyncio.Task[None]] = set()
        self._spoken = 0

    async def watch(self, sdp: str, *, talk: bool = False, listen: bool = False) -> tuple[str, str]:
        viewer = Viewer(
            uuid.uuid4().hex,
            "direct",
            WATCHER,
            talk=talk,
            listen=listen,
            ice_servers=[],
            on_keyframe=self._keyframe,
            on_speech=self._speak,
            on_closed=self._closed,
        )
        answer = await viewer.answer(RTCSessionDescription(sdp, "offer"))
        self.viewers[viewer.id] = viewer
        for unit in self._gop.burst():
            viewer.send(unit)
        if self._filming is None:
            self._filming = asyncio.create_task(self._pump(self._film()))
        if (talk or listen) and self._listening is None and self.microphone is not None:
            self._listening = asyncio.create_task(self._pump(self.microphone.units()))
        return viewer.id, answer.sdp

    async def unwatch(self, viewer_id: str) -> None:
        viewer = self.viewers.get(viewer_id)
        if viewer is not None:
            await viewer.close()

    async def close(self) -> None:
        for viewer in list(self.viewers.values()):
            await viewer.close()
        self._halt()
        await asyncio.gather(*self._stopping, return_exceptions=True)

    async def _film(self) -> AsyncIterator[MediaUnit]:
        camera = self._current = self.camera()
        async for unit in camera.units():
            self._gop.add(unit)
            yield unit

    async def _pump(self, units: AsyncIterator[MediaUnit]) -> None:
        async for unit in units:
            for viewer in self.viewers.values():
                viewer.send(unit)

    def _keyframe(self) -> None:
        if self._current is not None:
            self._current.request_keyframe()

    async def _speak(self, packet: bytes) -> None:
        if self.speaker is not None:
            self._spoken += 1
            self.speaker.play(speech_unit(self._spoken, packet))

    def _closed(self, viewer: Viewer) -> None:
        self.viewers.pop(viewer.id, None)
        if not self.viewers:
            self._halt()

    def _halt(self) -> None:
        """Stop the camera and microphone now, so the next viewer starts them again."""
        for task in (self._filming, self._listening):
            if task is not None:
                task.cancel()
                self._stopping.add(task)
                task.add_done_callback(self._stopping.discard)
        self._filming = self._listening = None
        self._current = None
        self._gop.clear()
