"""The intercom of an answered lane call's lane belongs to the call's holder: reserved
from the answer (``MediaBridge.reserve_floor``), so nobody else takes it before their
console opens the live view and talks, and released when the call ends, is handed on
or goes back to the queue.

A phone call (the help page) is a line of its own at its lane (``MediaBridge.open_line``):
its holder's viewers of the lane carry the caller's voice, and the holder's speech goes
to the caller, from the answer until the call ends, is handed on or goes back to the
queue. It takes nothing from the lane's intercom.

A lane call that is over (its agent ended it, or nobody answered) is told to its lane
(``call_over``): a SIP door station still off-hook for it hangs up there."""

from __future__ import annotations

import logging

from gates.centre.hub import LaneHub
from gates.protocol import MAX_CALL_PRESSES, CallOver
from media.centre.bridge import MediaBridge
from media.errors import IntercomBusy

from .model import Call, CallState, Source

log = logging.getLogger("seat.calls")


class Floors:
    def __init__(self, bridge: MediaBridge, hub: LaneHub) -> None:
        self.bridge = bridge
        self.hub = hub
        self._held: dict[str, tuple[str, str]] = {}  # call -> (lane, user) reserved

    def holder(self, call: Call) -> str | None:
        """Who holds the intercom of a lane call's lane; None for other calls."""
        return self.bridge.floor_holder(call.lane_id) if call.source is Source.LANE else None

    def follow(self, call: Call) -> None:
        """Bring the lane's intercom (or the phone's line) in line with ``call`` as it
        is now. Someone else on the intercom already (a supervisor listening in and
        talking) keeps it: logged, and the call's ``intercom`` shows who."""
        if call.source is Source.PHONE:
            self._follow_line(call)
            return
        answered = call.source is Source.LANE and call.state is CallState.ACTIVE
        wanted = (call.lane_id, call.agent) if answered and call.agent is not None else None
        held = self._held.get(call.id)
        if wanted == held:
            return
        if held is not None:
            del self._held[call.id]
            self.bridge.release_floor(*held)
        if wanted is None:
            return
        try:
            self.bridge.reserve_floor(*wanted)
        except IntercomBusy as exc:
            log.warning(
                "calls.intercom.busy call=%s lane=%s agent=%s holder=%s",
                call.id,
                call.lane_id,
                call.agent,
                exc.extra.get("holder"),
            )
            return
        self._held[call.id] = wanted

    async def hang_up(self, call: Call) -> None:
        """``call`` is over: its lane is told, if it is a lane call whose presses had
        ids. Every server of the centre tells; only the one that holds the lane's link
        has it to send on, and an offline lane is not told again."""
        if call.source is not Source.LANE or not call.event_ids:
            return
        message = CallOver(call.event_ids[-MAX_CALL_PRESSES:])
        if await self.hub.notify(call.lane_id, message):
            log.info("calls.lane.told_over call=%s lane=%s", call.id, call.lane_id)

    def _follow_line(self, call: Call) -> None:
        if call.finished:
            self.bridge.end_line(call.id)
            return
        holder = call.agent if call.state is CallState.ACTIVE else None
        self.bridge.open_line(call.id, call.lane_id, holder)
