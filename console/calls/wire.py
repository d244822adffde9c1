"""What one server of the centre tells the others after it saved a step of the call
queue: the version it saved, and the step's effects, from which each server tells its
own consoles what the step changed as the server that made it told its own.

The saved state is the truth: a server that hears of a version newer than its own
reads the state again; the effects only say what to tell, and carry the calls the step
finished (the state holds open calls only). Messages from several servers may arrive
out of their order, so a ring or the end of one that a later step overtook is not told
(``current``).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, ClassVar, Self

from console.cluster.envelope import EnvelopeError, Fields

from .effects import (
    AgentChanged,
    Alert,
    AlertKind,
    CallChanged,
    CallStep,
    Effect,
    QueueChanged,
    Ring,
    RingEnd,
    StopRinging,
)
from .model import Agent, Call, CallState
from .queue import CallQueue

# The channel every server of the centre publishes its saved steps on.
CHANNEL = "seat:calls:steps"


@dataclass(frozen=True, slots=True)
class SavedStep:
    """A step saved as version ``version`` (kind ``call_step``; the envelope names the
    server that saved it); ``holders`` maps each call answered before the step (among
    those it changed) to its holder."""

    KIND: ClassVar[str] = "call_step"

    version: int
    effects: tuple[Effect, ...]
    holders: Mapping[str, str]

    def to_json(self) -> dict[str, Any]:
        return {
            "version": self.version,
            "effects": [effect_json(effect) for effect in self.effects],
            "holders": dict(self.holders),
        }

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        holders = fields.obj("holders")
        if not all(isinstance(agent, str) for agent in holders.values()):
            raise EnvelopeError("call_step: a holder is not a string")
        effects: list[Effect] = []
        for index, item in enumerate(fields.items("effects")):
            try:
                effects.append(effect_of(item))
            except (KeyError, TypeError, ValueError, AttributeError) as exc:
                raise EnvelopeError(f"call_step: effects[{index}]: {exc!r}") from None
        return cls(fields.integer("version"), tuple(effects), holders)


def saved_step(version: int, effects: Iterable[Effect], held: Mapping[str, str]) -> SavedStep:
    """The message for a step; ``held``: the holder of every call answered before it."""
    effects = tuple(effects)
    changed = {effect.call.id for effect in effects if isinstance(effect, CallChanged)}
    return SavedStep(
        version, effects, {call: agent for call, agent in held.items() if call in changed}
    )


def finished_calls(effects: Iterable[Effect]) -> list[Call]:
    """The calls a step left finished, as it left them."""
    last = {e.call.id: e.call for e in effects if isinstance(e, CallChanged)}
    return [call for call in last.values() if call.finished]


def current(queue: CallQueue, effects: Iterable[Effect]) -> list[Effect]:
    """The rings and ends of rings of another server's step that ``queue`` (read at
    the step's version or later) still bears out: a ring whose call still rings that
    agent until the same moment; the end of a ring, unless that agent is rung for the
    call again by a later step."""
    effects = list(effects)
    rings = {(e.call_id, e.agent, e.until) for e in effects if isinstance(e, Ring)}

    def ringing(call_id: str, agent: str) -> float | None:
        call = queue.held(call_id)
        if call is None or call.state is not CallState.RINGING or call.offered_to != agent:
            return None
        return call.ring_until

    kept: list[Effect] = []
    for effect in effects:
        if isinstance(effect, Ring):
            if ringing(effect.call_id, effect.agent) == effect.until:
                kept.append(effect)
        elif isinstance(effect, StopRinging):
            until = ringing(effect.call_id, effect.agent)
            if until is None or (effect.call_id, effect.agent, until) in rings:
                kept.append(effect)
    return kept


def effect_json(effect: Effect) -> dict[str, Any]:
    if isinstance(effect, Ring):
        return {"ring": {"call": effect.call_id, "agent": effect.agent, "until": effect.until}}
    if isinstance(effect, StopRinging):
        stop = {"call": effect.call_id, "agent": effect.agent, "reason": effect.reason.value}
        return {"stop": stop}
    if isinstance(effect, CallChanged):
        return {"call": effect.call.to_json(), "step": effect.step.value}
    if isinstance(effect, AgentChanged):
        return {"agent": effect.agent.to_json()}
    if isinstance(effect, Alert):
        alert = {"kind": effect.kind.value, "agent": effect.agent, "detail": effect.detail}
        return {"alert": alert}
    return {"queues": list(effect.agents)}


def effect_of(data: Mapping[str, Any]) -> Effect:
    """The effect ``effect_json`` wrote; ``ValueError`` for anything else."""
    if "ring" in data:
        ring = data["ring"]
        return Ring(str(ring["call"]), str(ring["agent"]), float(ring["until"]))
    if "stop" in data:
        stop = data["stop"]
        return StopRinging(str(stop["call"]), str(stop["agent"]), RingEnd(stop["reason"]))
    if "call" in data:
        return CallChanged(Call.from_json(data["call"]), CallStep(data["step"]))
    if "agent" in data:
        return AgentChanged(Agent.from_json(data["agent"]))
    if "alert" in data:
        alert = data["alert"]
        return Alert(AlertKind(alert["kind"]), str(alert["agent"]), str(alert["detail"]))
    if "queues" in data:
        return QueueChanged(tuple(str(name) for name in data["queues"]))
    raise ValueError(f"unknown call effect {sorted(data)!r}")
