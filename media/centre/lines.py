"""Phone calls from the help page as the centre's media sees them: one *line* per call,
at the lane whose sticker placed it, held by the agent who answered it (nobody until
then), with the phone's peer connection once it has offered its voice.

Pure values and lookups; the routing they imply (the caller's voice to the holder's
viewers of the lane, the holder's speech to the caller) is ``media.centre.voices``'.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from media.buffers import Timeline
from media.units import AUDIO_CLOCK


@dataclass(slots=True)
class Line:
    id: str
    lane: str
    holder: str | None  # the agent who answered the call; None while it is unanswered
    phone: str | None = None  # the phone's peer connection, once it offered its voice
    # The caller's voice on one clock, across the phone's reconnections (a new peer's
    # packets start again from 0); one packet's gap at each splice.
    heard: Timeline = field(default_factory=lambda: Timeline(step=AUDIO_CLOCK // 50))
    spoken: int = 0  # the holder's packets sent to the phone so far


class PhoneLines:
    def __init__(self) -> None:
        self._lines: dict[str, Line] = {}
        self._of_phone: dict[str, str] = {}  # phone -> its line

    def get(self, line_id: str) -> Line | None:
        return self._lines.get(line_id)

    def of_phone(self, phone: str) -> Line | None:
        """The line ``phone`` carries, if it is still that line's phone."""
        line = self._lines.get(self._of_phone.get(phone, ""))
        return line if line is not None and line.phone == phone else None

    def held(self, lane: str, user: str) -> Line | None:
        """The call at ``lane`` that ``user`` holds, if any."""
        return next((n for n in self._lines.values() if n.lane == lane and n.holder == user), None)

    def holders(self, lane: str) -> set[str]:
        """Who holds a phone call at ``lane``."""
        return {n.holder for n in self._lines.values() if n.lane == lane and n.holder is not None}

    def answered(self, lane: str) -> Line | None:
        """The first call at ``lane`` that an agent holds: the one its listeners hear."""
        return next(
            (n for n in self._lines.values() if n.lane == lane and n.holder is not None), None
        )

    def put(self, line_id: str, lane: str, holder: str | None) -> bool:
        """The call at ``lane`` is held by ``holder`` now; False if it already was."""
        line = self._lines.get(line_id)
        if line is None:
            self._lines[line_id] = Line(line_id, lane, holder)
            return True
        if (line.lane, line.holder) == (lane, holder):
            return False
        line.lane, line.holder = lane, holder
        return True

    def remove(self, line_id: str) -> Line | None:
        line = self._lines.pop(line_id, None)
        if line is not None and line.phone is not None:
            self._of_phone.pop(line.phone, None)
        return line

    def connect(self, line: Line, phone: str) -> str | None:
        """``phone`` carries ``line`` from now on; returns the phone it replaced."""
        previous, line.phone = line.phone, phone
        if previous is not None:
            self._of_phone.pop(previous, None)
        self._of_phone[phone] = line.id
        line.heard.restart()
        return previous

    def disconnect(self, phone: str) -> None:
        line = self.of_phone(phone)
        self._of_phone.pop(phone, None)
        if line is not None:
            line.phone = None
