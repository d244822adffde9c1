"""Running a long-lived ``seat`` process (the centre, a lane agent, a benchmark's
workers): on uvloop where installed, and stopped cleanly by SIGINT or SIGTERM."""

from __future__ import annotations

import asyncio
import signal
from collections.abc import Coroutine
from typing import Any


def run_fast(main: Coroutine[Any, Any, None]) -> None:
    """Run a long-lived service on uvloop where installed (it ships with uvicorn's
    standard extras): it roughly halves the event loop's own cost per message."""
    try:
        import uvloop
    except ImportError:
        asyncio.run(main)
        return
    uvloop.run(main)


async def until_stopped(main: Coroutine[Any, Any, None]) -> None:
    """Run ``main`` until SIGINT or SIGTERM, then cancel it so it cleans up. Installed
    explicitly: a process started in the background by a shell (or by the demo) inherits
    an ignored SIGINT, and asyncio then leaves it ignored; systemd stops with SIGTERM."""
    loop = asyncio.get_running_loop()
    task = asyncio.ensure_future(main)
    signalled: list[int] = []

    def stop_on(signum: int) -> None:
        signalled.append(signum)
        task.cancel()

    stops = (signal.SIGINT, signal.SIGTERM)
    for stop in stops:
        loop.add_signal_handler(stop, stop_on, stop)
    try:
        await task
    except asyncio.CancelledError:
        if not signalled:
            raise  # cancelled from outside, not stopped by a signal
    finally:
        for stop in stops:
            loop.remove_signal_handler(stop)
