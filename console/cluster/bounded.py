"""Waiting for Redis work with a bound that holds even when the work ignores being
cancelled: redis-py does not always end a call at once when its task is cancelled (a
pipeline whose scripts it is loading, a read on a connection that went silent), so an
``asyncio.timeout`` around it may wait as long as the call does. A server that stops
must stop, whatever Redis does.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Iterable
from typing import Any, TypeVar

log = logging.getLogger("seat.cluster")

T = TypeVar("T")

# How long each part of a stopping server waits for Redis: a healthy one answers its
# last writes in milliseconds; past this, what they would have written expires by itself.
CLOSE_WAIT_S = 2.0

# Work given up on: kept until it ends so its task is not collected while pending, and
# its failure (it will fail: its connections are closed) is not reported as unretrieved.
_abandoned: set[asyncio.Future[Any]] = set()


async def bounded(work: Awaitable[T], wait_s: float) -> T:
    """``work``'s result, or ``TimeoutError`` after ``wait_s``; then the work is
    cancelled and left to end by itself (the caller closes its connections, which
    ends it). Cancelling the caller cancels the work as well."""
    task = asyncio.ensure_future(work)
    try:
        done, _ = await asyncio.wait([task], timeout=wait_s)
    except asyncio.CancelledError:
        _abandon(task)
        raise
    if not done:
        _abandon(task)
        raise TimeoutError(f"no answer from Redis in {wait_s:g} s")
    return task.result()


async def cancel_all(tasks: Iterable[asyncio.Future[Any] | None], wait_s: float) -> None:
    """Cancel ``tasks`` and wait for them to end, at most ``wait_s``: one stuck in a
    call to Redis that ignores its cancellation is left to end when its connections
    close."""
    pending = [task for task in tasks if task is not None and not task.done()]
    for task in pending:
        _abandon(task)
    if pending:
        await asyncio.wait(pending, timeout=wait_s)


def _abandon(task: asyncio.Future[Any]) -> None:
    task.cancel()
    _abandoned.add(task)
    task.add_done_callback(_forget)


def _forget(task: asyncio.Future[Any]) -> None:
    _abandoned.discard(task)
    if not task.cancelled() and task.exception() is not None:
        log.info("redis.abandoned_call_failed error=%r", task.exception())
