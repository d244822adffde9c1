"""A device asked something at a steady cadence (the arm's state, or only whether it is
there), and the arm's state as the last answer gave it: the same loop for every family
that reads a barrier, so each redials, raises and clears its fault, and forgets the arm
when the device goes away, alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable

from gates.backoff import Backoff
from gates.hardware.latch import FaultLatch
from gates.hardware.parts import Emit, Unreachable
from gates.lane.drivers import GateChanged
from gates.vocabulary import GateState

log = logging.getLogger("seat.lane.hardware")


class GateReading:
    """Where the arm is, as a device last said; each change goes out as ``GateChanged``,
    which the lane waits on to confirm an open."""

    def __init__(self, device: str) -> None:
        self.device = device
        self.state = GateState.UNKNOWN
        # False once the device said it cannot report the barrier (a camera model
        # without it): the lane then takes the device's OK for an open, as with no sensor.
        self.reported = True

    def set(self, state: GateState, emit: Emit | None) -> None:
        if state is self.state:
            return
        log.info("lane.device.gate device=%s state=%s", self.device, state)
        self.state = state
        if emit is not None:
            emit(GateChanged(state))


async def watch(
    check: Callable[[], Awaitable[None]],
    lost: Callable[[], None],
    latch: FaultLatch,
    cadence: Callable[[], float],
    kick: asyncio.Event,
    cause: str = "",
) -> None:
    """``check`` every ``cadence()`` seconds (asked each time: a device that learns it
    has less to read, a camera without the barrier's state, slows down), or at once
    when ``kick`` is set (after an open, so the lane does not wait a whole interval for
    the arm); until cancelled. An ``Unreachable`` raises the latch's fault for
    ``cause``, calls ``lost`` and retries with the lane's backoff; the next answer
    clears it."""
    backoff = Backoff()
    while True:
        try:
            await check()
        except Unreachable as exc:
            lost()
            latch.raise_(exc.detail, cause)
            await asyncio.sleep(backoff.next())
            continue
        latch.clear(cause)
        backoff.reset()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(kick.wait(), cadence())
        kick.clear()
