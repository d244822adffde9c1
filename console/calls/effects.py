"""What the call queue asks its driver to do after each step, in the order it happened.

``Ring`` and ``StopRinging`` are instructions for consoles; ``CallChanged`` and
``AgentChanged`` carry the new value (to store, push and audit) with the reason for the
change; ``QueueChanged`` names the agents whose queue of calls looks different now.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass

from .model import Agent, Call


class CallStep(enum.StrEnum):
    """Why a call changed, one word per rule, for the audit."""

    PLACED = "placed"
    JOINED = "joined"  # another press of the lane's button, or its own press repeated
    OFFERED = "offered"  # rung to ``offered_to``
    ACCEPTED = "accepted"
    DECLINED = "declined"
    MISSED = "missed"  # the ring ran out
    RETURNED = "returned"  # the rung agent went away, or picked another call
    TRANSFERRED = "transferred"
    ESCALATED = "escalated"
    BARGED = "barged"
    REQUEUED = "requeued"  # the holder's console did not come back within the grace
    ENDED = "ended"
    HUNG_UP = "hung_up"  # the caller ended an answered call
    ABANDONED = "abandoned"
    WARNED = "warned"
    BREACHED = "breached"
    WRAPPED = "wrapped"  # the last holder's wrap-up is over


class RingEnd(enum.StrEnum):
    ANSWERED = "answered"  # the rung agent accepted
    TAKEN = "taken"  # another agent picked the call from the queue
    DECLINED = "declined"
    MISSED = "missed"
    CANCELLED = "cancelled"  # the caller is gone
    AGENT_AWAY = "agent_away"  # the agent went offline or on a break, or took another call
    UNRECORDED = "unrecorded"  # the step that rang could not be written: it never happened


class AlertKind(enum.StrEnum):
    MISSED_RINGS = "missed_rings"  # an agent missed rings in a row and was put on a break


@dataclass(frozen=True, slots=True)
class Ring:
    call_id: str
    agent: str
    until: float


@dataclass(frozen=True, slots=True)
class StopRinging:
    call_id: str
    agent: str
    reason: RingEnd


@dataclass(frozen=True, slots=True)
class CallChanged:
    call: Call
    step: CallStep


@dataclass(frozen=True, slots=True)
class AgentChanged:
    agent: Agent


@dataclass(frozen=True, slots=True)
class Alert:
    """For the supervisors' attention."""

    kind: AlertKind
    agent: str
    detail: str


@dataclass(frozen=True, slots=True)
class QueueChanged:
    """These agents' ``queue_for`` differs from before the step (a call came, went,
    moved, or is rung to someone else)."""

    agents: tuple[str, ...]


Effect = Ring | StopRinging | CallChanged | AgentChanged | Alert | QueueChanged
