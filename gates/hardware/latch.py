"""A device's one fault as the lane sees it: raised once per new detail, cleared once,
so a device retried every half second does not flood the console, and one whose reason
changed (unplugged, then a wrong password) says so. Every family's ``run`` keeps its
fault through one of these."""

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
        self.detail: str | None = None

    def raise_(self, detail: str) -> None:
        if detail != self.detail:
            log.warning(
                "lane.device.fault device=%s code=%s detail=%s", self._device, self._code, detail
            )
            self.detail = detail
            self._emit(FaultRaised(self._code.value, detail, True))

    def clear(self) -> None:
        if self.detail is not None:
            log.info("lane.device.answers device=%s code=%s", self._device, self._code)
            self._emit(FaultRaised(self._code.value, "", active=False))
            self.detail = None
