"""The faults a lane has raised and not cleared, so that a device retried every few
seconds raises its fault once when it goes down and clears it once when it answers again,
rather than flooding the centre with the same fault at each retry."""

from __future__ import annotations

from collections.abc import Callable

from gates.lane.drivers import FaultRaised, LaneEvent


class Faults:
    """``report`` is set when the lane agent starts; a fault before that is a bug."""

    def __init__(self) -> None:
        self.report: Callable[[LaneEvent], None] = _unreported
        self._down: set[str] = set()

    def raise_fault(self, code: str, detail: str) -> None:
        if code not in self._down:
            self._down.add(code)
            self.report(FaultRaised(code, detail))

    def clear(self, code: str) -> bool:
        """Clear ``code``; whether it had been raised."""
        if code not in self._down:
            return False
        self._down.discard(code)
        self.report(FaultRaised(code, "", active=False))
        return True


def _unreported(event: LaneEvent) -> None:
    raise RuntimeError(f"a lane event before the lane agent started: {event!r}")
