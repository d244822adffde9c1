"""A device's one fault as the lane sees it: raised once per new detail, cleared once,
so a device retried every half second does not flood the console, and one whose reason
changed (unplugged, then a wrong password) says so. Every family's ``run`` keeps its
fault through one of these.

A device watched two ways for the same fault (a camera's pushes falling silent, and its
TCP SDK link dropping) gives each way its ``cause``: the fault stands while any cause
does, its detail theirs together, so one way answering again does not clear what the
other still sees.
"""

from __future__ import annotations

import logging

from gates.hardware.parts import DeviceFault, Emit
from gates.lane.drivers import FaultRaised

log = logging.getLogger("seat.lane.hardware")


class FaultLatch:
    def __init__(self, emit: Emit, code: DeviceFault, device: str) -> None:
        self._emit = emit
        self._code = code
        self._device = device
        self._causes: dict[str, str] = {}
        self.detail: str | None = None

    def raise_(self, detail: str, cause: str = "") -> None:
        self._causes[cause] = detail
        self._show()

    def clear(self, cause: str = "") -> None:
        self._causes.pop(cause, None)
        self._show()

    def _show(self) -> None:
        detail = "; ".join(self._causes.values()) if self._causes else None
        if detail == self.detail:
            return
        self.detail = detail
        if detail is not None:
            log.warning(
                "lane.device.fault device=%s code=%s detail=%s", self._device, self._code, detail
            )
            self._emit(FaultRaised(self._code.value, detail, True))
        else:
            log.info("lane.device.answers device=%s code=%s", self._device, self._code)
            self._emit(FaultRaised(self._code.value, "", active=False))
