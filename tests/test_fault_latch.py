"""A device's fault as the console sees it: once per new detail, cleared once, and
standing while any of the ways the device is watched still sees it."""

from __future__ import annotations

from gates.hardware.latch import FaultLatch
from gates.hardware.parts import DeviceFault
from gates.lane.drivers import FaultRaised, LaneEvent


def test_a_fault_seen_two_ways_stands_until_both_see_the_device_again() -> None:
    sent: list[LaneEvent] = []
    latch = FaultLatch(sent.append, DeviceFault.CAMERA_UNREACHABLE, "cam")
    latch.raise_("no push for 15 s", "pushes")
    latch.raise_("no push for 15 s", "pushes")  # retried: not sent again
    latch.raise_("the TCP SDK: refused", "sdk")
    latch.clear("pushes")
    latch.clear("pushes")
    latch.clear("sdk")
    latch.clear("sdk")
    code = "camera_unreachable"
    assert sent == [
        FaultRaised(code, "no push for 15 s", True),
        FaultRaised(code, "no push for 15 s; the TCP SDK: refused", True),
        FaultRaised(code, "the TCP SDK: refused", True),
        FaultRaised(code, "", active=False),
    ]
