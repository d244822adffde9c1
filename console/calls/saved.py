"""The call service's saved state, one JSON text in the store: the queue's state
(``CallQueue.to_json``: the open calls and the agents) and the commands kept with the
calls still open; and each finished call, saved once beside its record."""

from __future__ import annotations

import json
from collections.abc import Collection, Iterable

from .commands import CallCommands
from .model import Call, Settings
from .queue import CallQueue
from .record import KeptCall

STATE_VERSION = 1


def state_text(queue: CallQueue, commands: CallCommands, without: Collection[str] = ()) -> str:
    """``without``: calls whose commands went into their records with this state."""
    return json.dumps(
        {
            "version": STATE_VERSION,
            "queue": queue.to_json(),
            "commands": commands.to_json(without),
        },
        ensure_ascii=False,
    )


def parse_state(text: str, settings: Settings) -> tuple[CallQueue, CallCommands]:
    """The queue and commands as ``state_text`` wrote them; call ``restored`` next.
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
