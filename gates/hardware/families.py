"""The vendor families a lane file may name, and where each one's code lives.

A family is imported only when a lane file names it: a lane of Hikvision cameras does
not load the SIP stack, and a family's missing dependency stops only the lanes that
use it, with a message saying which. What a family's devices report (plates, calls)
is declared here, since it shows only in what their ``run`` emits; what they carry out
(opening, showing, speaking) their classes say through the ``parts`` protocols.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass
from typing import cast

from gates.hardware.parts import Build


@dataclass(frozen=True, slots=True)
class Family:
    module: str
    reads_plates: bool = False  # its devices emit ``VehicleSeen``
    rings: bool = False  # its devices emit ``CallPressed`` (an intercom)
    entry: str = "build"  # the module's ``parts.Build``
    # The keys of a device's table that say where it is, the first one given: what the
    # console shows an installer looking for the device (``inventory``).
    where: tuple[str, ...] = ()


FAMILIES: dict[str, Family] = {
    "alarminfo": Family("gates.hardware.alarminfo", reads_plates=True, where=("address",)),
    "hikvision": Family("gates.hardware.hikvision", reads_plates=True, where=("host",)),
    "dahua": Family("gates.hardware.dahua", reads_plates=True, where=("host",)),
    "rs485": Family("gates.hardware.rs485", where=("via", "serial")),
    "modbus": Family("gates.hardware.modbus", where=("host", "serial")),
    "sip": Family("gates.hardware.sip", rings=True, where=("intercom",)),
}


class FamilyUnavailable(Exception):
    """A family the registry names could not be loaded (a dependency missing)."""


def builder(family: Family) -> Build:
    """The family's ``build``, importing its module now."""
    try:
        module = importlib.import_module(family.module)
    except ImportError as exc:
        raise FamilyUnavailable(f"{family.module} cannot be loaded: {exc}") from None
    build = getattr(module, family.entry, None)
    if not callable(build):
        raise FamilyUnavailable(f"{family.module} has no {family.entry}(options, workshop)")
    return cast(Build, build)
