"""What the consoles are shown of the call queue: each step's changes published on the
live stream (``console.streams``) to the users they concern, and the calls and agents a
user sees when they ask or open a tab.

A changed call goes to everyone who may see it (``views.may_see``) and to the agents it
concerned before the step (its holder, the agent whose ring stopped), so a call that
leaves someone's view still reaches them once, as it is now. A ring and its end go to
the agent rung; an agent's change to that agent and the supervisors; an alert likewise.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import datetime

from console.errors import CallError
from console.models import Role, User
from console.streams import Message, Streams

from .effects import (
    AgentChanged,
    Alert,
    CallChanged,
    Effect,
    QueueChanged,
    Ring,
    RingEnd,
    StopRinging,
)
from .floors import Floors
from .model import Agent, AgentState, Call, Settings
from .queue import CallQueue
from .state import answer_order
from .views import agent_json, board_json, call_json, may_accept, may_see


class Teller:
    def __init__(self, settings: Settings, streams: Streams, floors: Floors) -> None:
        self.settings = settings
        self.streams = streams
        self.floors = floors

    # ------------------------------------------------------------- views

    def viewer(self, queue: CallQueue, user: User) -> Agent:
        """The queue's agent for ``user``, or who they would be if logged in."""
        try:
            return queue.agent(user.username)
        except CallError:
            supervisor = user.role.allows(Role.SUPERVISOR)
            return Agent(user.username, car_parks=user.coverage, supervisor=supervisor)

    def call(self, queue: CallQueue, call: Call, viewer: Agent, now: float) -> Message:
        position = queue.position(call.id)
        intercom = self.floors.holder(call)
        return call_json(call, now, self.settings, viewer, position=position, intercom=intercom)

    def open_calls(self, queue: CallQueue, viewer: Agent, now: float) -> list[Message]:
        """The open calls ``viewer`` may see: waiting and rung ones first to be answered
        first, then answered ones in the order they were answered."""
        shown = [call for call in queue.open_calls() if may_see(viewer, call)]
        pending = sorted((call for call in shown if call.pending), key=answer_order)
        active = sorted((c for c in shown if not c.pending), key=lambda c: c.answered or 0.0)
        return [self.call(queue, call, viewer, now) for call in pending + active]

    def greeting(self, queue: CallQueue, name: str, now: float) -> list[Message]:
        """What a new tab of agent ``name`` is sent first: the calls, themself, and the
        ring if they are being rung."""
        agent = queue.agent(name)
        messages: list[Message] = [
            {"type": "calls", "calls": self.open_calls(queue, agent, now)},
            {"type": "agent", "agent": agent_json(agent, now)},
        ]
        if agent.state is AgentState.RINGING and agent.call_id is not None:
            messages.append(self._ring(queue, queue.call(agent.call_id), agent, now))
        return messages

    def floor(self, queue: CallQueue, now: float) -> Message:
        """Every agent who has logged in, and the figures of the day (local) so far."""
        midnight = datetime.fromtimestamp(now).astimezone()
        since = midnight.replace(hour=0, minute=0, second=0, microsecond=0).timestamp()
        return {
            "agents": [agent_json(agent, now) for agent in queue.agents()],
            "board": board_json(queue.board(now, since)),
        }

    def floor_to_supervisors(self, queue: CallQueue, now: float) -> None:
        """Every agent, to the supervisors' tabs: the floor as it stands, when the news
        of steps may have been missed (the link to the other servers was down)."""
        agents = {agent.name: agent for agent in queue.agents()}
        for name, agent in agents.items():
            message = {"type": "agent", "agent": agent_json(agent, now)}
            self._to_supervisors(agents, message, key=f"agent {name}")

    # ------------------------------------------------------------- telling

    def tell(
        self, queue: CallQueue, effects: list[Effect], holders: Mapping[str, str], now: float
    ) -> None:
        """Publish one step's ``effects`` but its rings and their ends (``ring`` sent
        them); ``holders`` maps each call answered before the step to its holder."""
        agents = {agent.name: agent for agent in queue.agents()}
        calls: dict[str, set[str]] = {}  # changed call -> agents it concerned before
        changed: set[str] = set()
        for effect in effects:
            if isinstance(effect, CallChanged):
                holder = holders.get(effect.call.id)
                calls.setdefault(effect.call.id, set()).update([holder] if holder else [])
            elif isinstance(effect, StopRinging):
                calls.setdefault(effect.call_id, set()).add(effect.agent)
            elif isinstance(effect, AgentChanged):
                changed.add(effect.agent.name)
            elif isinstance(effect, Alert):
                alert = {"kind": effect.kind.value, "agent": effect.agent, "detail": effect.detail}
                message = {"type": "alert", "alert": alert}
                self._to_agent_and_supervisors(agents, effect.agent, message)
            elif isinstance(effect, QueueChanged):
                for name in effect.agents:
                    ids = [call.id for call in queue.queue_for(name)]
                    self.to(name, {"type": "queue", "calls": ids}, key=f"queue {name}")
        for call_id, concerned in calls.items():
            call = queue.held(call_id)
            if call is not None:
                self._publish_call(queue, call, agents, concerned, now)
        for name in sorted(changed):
            message = {"type": "agent", "agent": agent_json(agents[name], now)}
            self._to_agent_and_supervisors(agents, name, message, key=f"agent {name}")

    def ring(self, queue: CallQueue, effects: list[Effect], now: float) -> list[Ring | StopRinging]:
        """Send a step's rings, and the ends of rings, before the step is written;
        returns them.

        A ring is an offer and binds nothing: accepting is a step of its own, and steps
        run one at a time, so an accept waits behind the write of the step that rang. The
        ring can thus go out without waiting for the disk (its fsync is most of a step's
        time). Its ends go with it, in the step's order: a ring that ran out and rings
        the same agent again must reach them stopped, then ringing, never the other way
        round. A step that is not written takes them back with ``unring``."""
        told: list[Ring | StopRinging] = []
        for effect in effects:
            if isinstance(effect, Ring):
                agent = queue.agent(effect.agent)
                self.to(effect.agent, self._ring(queue, queue.call(effect.call_id), agent, now))
            elif isinstance(effect, StopRinging):
                self.to(effect.agent, _stopped(effect.call_id, effect.reason))
            else:
                continue
            told.append(effect)
        return told

    def unring(self, queue: CallQueue, told: list[Ring | StopRinging], now: float) -> None:
        """The step that sent ``told`` was not written, and ``queue`` is back as it was
        before: each of its rings is stopped, and each agent told is shown their calls
        as they are, with the ring they still have, if any."""
        for effect in told:
            if isinstance(effect, Ring):
                self.to(effect.agent, _stopped(effect.call_id, RingEnd.UNRECORDED))
        for name in dict.fromkeys(effect.agent for effect in told):
            try:
                messages = self.greeting(queue, name, now)
            except CallError:  # the step had logged them in: they are not in the queue
                continue
            for message in messages:
                self.to(name, message)

    def _ring(self, queue: CallQueue, call: Call, agent: Agent, now: float) -> Message:
        shown = self.call(queue, call, agent, now)
        return {"type": "ring", "call_id": call.id, "until": shown["ring_until"], "call": shown}

    def _publish_call(
        self,
        queue: CallQueue,
        call: Call,
        agents: Mapping[str, Agent],
        concerned: set[str],
        now: float,
    ) -> None:
        shown: dict[bool, Message] = {}  # by may_accept: the call is made at most twice

        def message_for(user: str) -> Message | None:
            viewer = agents.get(user)
            if viewer is None or not (user in concerned or may_see(viewer, call)):
                return None
            accepts = may_accept(viewer, call)
            if accepts not in shown:
                shown[accepts] = {"type": "call", "call": self.call(queue, call, viewer, now)}
            return shown[accepts]

        self.streams.publish(message_for, key=f"call {call.id}")

    def to(self, name: str, message: Message, key: str | None = None) -> None:
        self.streams.publish(lambda user: message if user == name else None, key)

    def _to_agent_and_supervisors(
        self, agents: Mapping[str, Agent], name: str, message: Message, key: str | None = None
    ) -> None:
        self._to_supervisors(agents, message, key, also=name)

    def _to_supervisors(
        self,
        agents: Mapping[str, Agent],
        message: Message,
        key: str | None = None,
        also: str | None = None,
    ) -> None:
        supervisors = {agent.name for agent in agents.values() if agent.supervisor}

        def message_for(user: str) -> Message | None:
            return message if user == also or user in supervisors else None

        self.streams.publish(message_for, key)


def _stopped(call_id: str, reason: RingEnd) -> Message:
    return {"type": "ring_stopped", "call_id": call_id, "reason": reason.value}
