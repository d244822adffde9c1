"""Builds a lane file's devices, in the file's order, each from its family.

A device's family reads its table; whatever the family did not read is a typo or an
option of another family, and stops the lane. Devices share the lane's push listeners
(one per listening address), which take their ports here, at start, so a port in use
is a message at start rather than a camera pushing into nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gates.hardware.families import FamilyUnavailable, builder
from gates.hardware.lane_file import LaneFile, check_parts
from gates.hardware.options import LaneFileError
from gates.hardware.parts import Device
from gates.hardware.pushes import PushListener
from gates.textrules import parse_count


@dataclass
class LaneWorkshop:
    """``parts.Workshop`` for one lane file."""

    lane: LaneFile
    devices: dict[str, Device] = field(default_factory=dict)
    listeners: dict[str, PushListener] = field(default_factory=dict)

    def device(self, name: str) -> Device:
        if name not in self.devices:
            raise LaneFileError(
                f"{self.lane.source}: no device {name!r} defined before the one that uses it"
            )
        return self.devices[name]

    def listener(self, address: str) -> PushListener:
        if address not in self.listeners:
            host, sep, port = address.rpartition(":")
            number = parse_count(port)
            if not sep or not host or number is None or number > 65535:
                raise LaneFileError(
                    f"{self.lane.source}: {address!r} is not a listening address host:port"
                )
            self.listeners[address] = PushListener(host.strip("[]"), number)
        return self.listeners[address]


def build(lane: LaneFile) -> LaneWorkshop:
    """Every device of ``lane``, checked; raises ``LaneFileError``."""
    workshop = LaneWorkshop(lane)
    for name, options in lane.devices.items():
        family = lane.families[name]
        try:
            device = builder(family)(options, workshop)
        except FamilyUnavailable as exc:
            raise options.fail("family", str(exc)) from None
        unused = options.unused()
        if unused:
            raise options.fail(unused[0], f"not an option of family {options.text('family')}")
        workshop.devices[name] = device
    check_parts(lane, workshop.devices)
    return workshop


def bind(workshop: LaneWorkshop) -> None:
    """Take every listener's port now; ``LaneFileError`` naming the one that failed."""
    for address, listener in workshop.listeners.items():
        try:
            listener.bind()
        except OSError as exc:
            for other in workshop.listeners.values():
                other.close()
            raise LaneFileError(
                f"{workshop.lane.source}: cannot listen on {address}: {exc.strerror}"
            ) from None
