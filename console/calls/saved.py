"""The call service's saved state, one JSON text in the store: the queue's state
(``CallQueue.to_json``: the open calls and the agents) and the commands kept with the
calls still open; and each finished call, saved once beside its record."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

from .commands import CallCommands
from .model import Agent, Call, Settings
from .queue import CallQueue
from .record import KeptCall
from .state import STATE_VERSION as QUEUE_VERSION

STATE_VERSION = 1


class StateText:
    """The state's text, with each open call's and agent's JSON kept until that value
    is replaced (calls and agents are immutable, so a value kept is one unchanged): a
    step encodes what it changed, not every open call again (a storm leaves hundreds
    waiting). The text parses to what ``CallQueue.to_json`` gives."""

    def __init__(self) -> None:
        self._encoded: dict[str, tuple[Call | Agent, str]] = {}

    def __call__(
        self, queue: CallQueue, commands: CallCommands, without: Collection[str] = ()
    ) -> str:
        """``without``: calls whose commands went into their records with this state."""
        encoded: dict[str, tuple[Call | Agent, str]] = {}

        def text(key: str, value: Call | Agent) -> str:
            held = self._encoded.get(key)
            if held is None or held[0] is not value:
                held = (value, json.dumps(value.to_json(), ensure_ascii=False))
            encoded[key] = held
            return held[1]

        calls = ",".join(text(f"call {call.id}", call) for call in queue.open_calls())
        agents = ",".join(text(f"agent {agent.name}", agent) for agent in queue.agents())
        self._encoded = encoded
        taken = json.dumps(commands.to_json(without), ensure_ascii=False)
        return (
            f'{{"version":{STATE_VERSION},"queue":{{"version":{QUEUE_VERSION},'
            f'"calls":[{calls}],"agents":[{agents}]}},"commands":{taken}}}'
        )


def parse_state(text: str, settings: Settings) -> tuple[CallQueue, CallCommands]:
    """The queue and commands as ``StateText`` wrote them; call ``restored`` next.
    Raises ``ValueError`` for a state this program does not know."""
    data = json.loads(text)
    if data.get("version") != STATE_VERSION:
        raise ValueError(f"the call service's saved state has version {data.get('version')!r}")
    return CallQueue.from_json(data["queue"], settings), CallCommands.from_json(data["commands"])


def kept(call: Call) -> KeptCall:
    return KeptCall(call.id, json.dumps(call.to_json(), ensure_ascii=False))


def parse_kept(texts: Iterable[str]) -> list[Call]:
    """The finished calls ``kept`` wrote."""
    return [Call.from_json(json.loads(text)) for text in texts]
