"""Who hears whom at a lane: where the lane's microphone, a talking agent's speech and a
phone caller's voice go, from the lane's feed (``media.centre.feed``) and its phone
calls (``media.centre.lines``). Pure routing, no I/O; the switchboard
(``media.centre.switchboard``) asks it and returns what it says.

Phone calls (the help page): each call is a *line* at the lane whose sticker placed it,
held by the agent who answered it. While an agent holds a line, their viewers of that
lane carry the caller's voice *instead of* the lane's microphone (``HearPhone``; the
lane's sound is not sent to them, nor asked of the lane for them), and their talking
viewers' speech goes to the caller's phone (``SpeakToPhone``) instead of the lane's
speaker, without taking the lane's floor: the lane's intercom stays free for a lane
call at the same lane. They still see the lane's camera. A holder with no viewer of the
lane open yet hears nothing of the caller until they open one, and may open one while
the lane is offline (no picture, the caller's voice). The caller's voice before an
answer goes nowhere.

Listening in (a supervisor's quality monitoring): a *listener* is a viewer that carries
sound without talking, whose user takes no part in a call at the lane (neither the
floor's holder nor a phone call's). A listener hears both sides, on two tracks: the
customer on the first, the agent on the second (``HearAgent``, the agent's Opus packets
as they come, on one clock per lane; the browser plays both, nothing is mixed here).
While an agent holds a phone call at the lane (the first, if several), its listeners
hear that call: the caller in place of the lane's microphone and the holder's speech
(and may listen while the lane is offline, as its holder may watch); otherwise the
lane's microphone (the driver) and the floor holder's speech. A holder is never a
listener, so no agent hears their own voice come back.
"""

from __future__ import annotations

from media.centre.actions import Action, HearAgent, HearPhone, Speak, SpeakToPhone
from media.centre.feed import Feed
from media.centre.lines import Line, PhoneLines
from media.units import AUDIO_CLOCK, Kind, MediaUnit

# Opus packets from browsers are 20 ms; the lane's speaker needs a pts clock only.
SPEECH_STEP = AUDIO_CLOCK // 50


class Voices:
    def __init__(self, lines: PhoneLines) -> None:
        self.lines = lines

    def lane_sound(self, feed: Feed) -> list[str]:
        """The viewers that carry the lane's microphone."""
        on_phone = self.lines.holders(feed.lane)
        listening = set()
        if self.lines.answered(feed.lane) is not None:  # they hear the caller instead
            listening = set(self.listeners(feed))
        return [
            viewing.id
            for viewing in feed.viewers.values()
            if viewing.listen
            and viewing.watcher.username not in on_phone
            and viewing.id not in listening
        ]

    def listeners(self, feed: Feed) -> list[str]:
        """The viewers listening in on the lane's calls: with sound, without a
        microphone, of nobody who takes part in a call there."""
        taking_part = self.lines.holders(feed.lane)
        if feed.hold is not None:
            taking_part.add(feed.hold.user)
        return [
            viewing.id
            for viewing in feed.viewers.values()
            if viewing.listen and not viewing.talk and viewing.watcher.username not in taking_part
        ]

    def speech(self, feed: Feed, viewer_id: str, packet: bytes, captured: float) -> list[Action]:
        """A talking viewer's Opus packet: on to the caller if its user holds a phone
        call at the lane, else on to the lane if it holds the floor; and to the lane's
        listeners when they hear that call."""
        line = self.lines.held(feed.lane, feed.viewers[viewer_id].watcher.username)
        if line is not None:
            spoken = self._to_phone(line, packet, captured)
            if line is self.lines.answered(feed.lane):
                spoken += self._to_listeners(feed, packet, captured)
            return spoken
        if feed.hold is None or feed.hold.viewer != viewer_id:
            return []
        actions: list[Action] = []
        if feed.upstream is not None:
            feed.speech_seq += 1
            seq = feed.speech_seq
            unit = MediaUnit(Kind.AUDIO, seq, seq * SPEECH_STEP, captured, packet)
            actions.append(Speak(feed.upstream, unit))
        if self.lines.answered(feed.lane) is None:  # else its listeners hear a phone call
            actions += self._to_listeners(feed, packet, captured)
        return actions

    def phone_voice(self, line: Line, feed: Feed | None, unit: MediaUnit) -> list[Action]:
        """The caller's Opus packet, on the line's one clock: to every viewer of the lane
        that carries sound and belongs to the agent who holds the call, and to the
        lane's listeners if theirs is this call; nowhere before an answer."""
        heard = MediaUnit(Kind.AUDIO, unit.seq, line.heard.map(unit.pts), unit.captured, unit.data)
        if line.holder is None or feed is None:
            return []
        hearing = [
            viewing.id
            for viewing in feed.viewers.values()
            if viewing.listen and viewing.watcher.username == line.holder
        ]
        if line is self.lines.answered(line.lane):
            hearing += self.listeners(feed)
        return [HearPhone(viewer, heard) for viewer in hearing]

    def _to_phone(self, line: Line, packet: bytes, captured: float) -> list[Action]:
        if line.phone is None:
            return []
        line.spoken += 1
        unit = MediaUnit(Kind.AUDIO, line.spoken, line.spoken * SPEECH_STEP, captured, packet)
        return [SpeakToPhone(line.phone, unit)]

    def _to_listeners(self, feed: Feed, packet: bytes, captured: float) -> list[Action]:
        listeners = self.listeners(feed)
        if not listeners:
            return []
        feed.heard_seq += 1
        seq = feed.heard_seq
        unit = MediaUnit(Kind.AUDIO, seq, seq * SPEECH_STEP, captured, packet)
        return [HearAgent(viewer, unit) for viewer in listeners]
