"""Where encoded units wait, and what is dropped when they cannot: pure, no I/O.

H.264 frames depend on the frames before them back to the last keyframe, so a slow
link cannot drop just any frame: once one video unit is lost, every unit until the next
keyframe is garbage to the decoder. Both queues here drop whole runs and resume at a
keyframe; the lane's send queue and each viewer's queue at the centre use the same rule.
"""

from __future__ import annotations

from collections import deque
from dataclasses import dataclass

from .units import Kind, MediaUnit


@dataclass(slots=True)
class Dropped:
    video: int = 0
    audio: int = 0


class KeyframeQueue:
    """A bounded FIFO of units. On overflow it drops every queued video unit and then
    every arriving one until a keyframe, so what leaves always decodes; audio (small,
    and useless late) is dropped oldest first beyond ``max_audio`` packets.

    ``wants_keyframe`` is set when video was cut, so the caller can ask the source for
    a keyframe instead of waiting out the camera's GOP.
    """

    def __init__(self, max_video_bytes: int, max_audio: int = 25) -> None:
        self.max_video_bytes = max_video_bytes
        self.max_audio = max_audio
        self.dropped = Dropped()
        self.wants_keyframe = False
        self._units: deque[MediaUnit] = deque()
        self._video_bytes = 0
        self._audio = 0
        # A fresh queue has no reference frame yet: it starts at a keyframe.
        self._skipping = True

    def __len__(self) -> int:
        return len(self._units)

    def push(self, unit: MediaUnit) -> bool:
        """Queue ``unit``; False when it was dropped."""
        if unit.kind is Kind.AUDIO:
            if self._audio >= self.max_audio:
                self._drop_oldest_audio()
            self._units.append(unit)
            self._audio += 1
            return True
        if unit.keyframe:
            self._skipping = False
            self.wants_keyframe = False
        elif self._skipping:
            self.dropped.video += 1
            return False
        if self._video_bytes + len(unit.data) > self.max_video_bytes:
            self._cut_video()
            if not unit.keyframe:
                self.dropped.video += 1
                return False
        self._units.append(unit)
        self._video_bytes += len(unit.data)
        return True

    def pop(self) -> MediaUnit | None:
        if not self._units:
            return None
        unit = self._units.popleft()
        if unit.kind is Kind.AUDIO:
            self._audio -= 1
        else:
            self._video_bytes -= len(unit.data)
        return unit

    def skip_to_keyframe(self) -> None:
        """Drop the queued video and what arrives until the next keyframe (a unit was
        lost upstream of this queue)."""
        self._cut_video()

    def _cut_video(self) -> None:
        kept = deque(u for u in self._units if u.kind is Kind.AUDIO)
        self.dropped.video += len(self._units) - len(kept)
        self._units = kept
        self._video_bytes = 0
        self._skipping = True
        self.wants_keyframe = True

    def _drop_oldest_audio(self) -> None:
        for index, queued in enumerate(self._units):
            if queued.kind is Kind.AUDIO:
                del self._units[index]
                self._audio -= 1
                self.dropped.audio += 1
                return


class GopCache:
    """The current group of pictures: the last keyframe and every video unit since.

    A viewer who joins mid-GOP is sent this burst first and decodes at once, instead of
    waiting up to a GOP for the next keyframe (the camera may not make one on demand).
    Past ``max_bytes`` (a camera with a very long GOP) it empties and waits for the next
    keyframe rather than grow.
    """

    def __init__(self, max_bytes: int = 4 << 20) -> None:
        self.max_bytes = max_bytes
        self._units: list[MediaUnit] = []
        self._bytes = 0

    def add(self, unit: MediaUnit) -> None:
        if unit.kind is not Kind.VIDEO:
            return
        if unit.keyframe:
            self._units = []
            self._bytes = 0
        elif not self._units:
            return  # no keyframe to build on
        if self._bytes + len(unit.data) > self.max_bytes:
            self.clear()
            return
        self._units.append(unit)
        self._bytes += len(unit.data)

    def burst(self) -> list[MediaUnit]:
        return list(self._units)

    def clear(self) -> None:
        self._units = []
        self._bytes = 0


class Timeline:
    """Maps each upstream's pts onto one continuous clock per lane.

    A lane agent that restarts, or a camera that reconnects, starts its pts again from
    anywhere; a browser already playing the lane would take timestamps that jump back as
    old frames and drop them. Each new upstream continues one frame after the last unit
    sent.
    """

    def __init__(self, step: int) -> None:
        self.step = step  # one frame (or packet) in clock ticks, the gap left on a splice
        self._offset: int | None = None
        self._last = -step

    def restart(self) -> None:
        """The next unit comes from a new upstream."""
        self._offset = None

    def map(self, pts: int) -> int:
        if self._offset is None:
            self._offset = self._last + self.step - pts
        mapped = max(pts + self._offset, self._last + 1)
        self._last = mapped
        return mapped
