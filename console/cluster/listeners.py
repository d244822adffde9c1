"""Calling the listeners one part of a server registers with another (``on_up``,
``after_each_round``): a listener's failure is its own and is logged, and the loop
that called it (the pub/sub reader, the lease keeper) goes on. A loop that let a
listener's exception through would end for good, silently, with everything that
depends on it (renewals, fencing, messages between servers).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable

from redis.exceptions import RedisError

log = logging.getLogger("seat.cluster")

Listener = Callable[[], Awaitable[None]]


async def call(listener: Listener, event: str) -> None:
    """Await ``listener()``; Redis out of reach is logged as a warning (the listener
    runs again at the next round or reconnection), any other failure with its trace.
    Cancellation goes through."""
    try:
        await listener()
    except (RedisError, OSError, TimeoutError) as exc:
        log.warning("%s.listener_failed listener=%s error=%r", event, _name(listener), exc)
    except Exception:
        log.exception("%s.listener_failed listener=%s", event, _name(listener))


def _name(listener: Listener) -> str:
    return getattr(listener, "__qualname__", repr(listener))
