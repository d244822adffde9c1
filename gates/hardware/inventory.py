"""The lane's devices as the console shows them: each device's name in the lane file,
its family, the parts it plays and where it is. A fault's detail names a device
("cam: no push from 192.168.1.64 for 15 s"); an installer on the phone with the centre
needs to know that ``cam`` is the camera at 192.168.1.64 reading plates and pulsing the
barrier, and ``led`` the board on its RS485-1.

Pure, from the lane file alone. Where a device is comes from the keys its family names
(``Family.where``), with any URL's user and password left out (a serial line given as
``rfc2217://user:pass@host:port``): every console that watches the lane sees it.
"""

from __future__ import annotations

from gates.hardware.lane_file import LaneFile
from gates.protocol import DEVICE_PARTS, MAX_DEVICE_AT, DeviceInfo
from gates.textrules import one_line


def inventory(lane: LaneFile) -> tuple[DeviceInfo, ...]:
    """Each of ``lane``'s devices, in the file's order."""
    described: list[DeviceInfo] = []
    for name, options in lane.devices.items():
        plays = tuple(
            part for part in DEVICE_PARTS if part in lane.parts and lane.parts[part].device == name
        )
        keys = [key for key in lane.families[name].where if options.has(key)]
        at = one_line(_without_userinfo(options.text(keys[0])), MAX_DEVICE_AT) if keys else ""
        described.append(DeviceInfo(name, options.text("family"), plays, at))
    return tuple(described)


def _without_userinfo(where: str) -> str:
    """``where`` with what comes before an ``@`` dropped, keeping a URL's scheme."""
    if "@" not in where:
        return where
    scheme, sep, rest = where.partition("://")
    host = (rest if sep else where).rpartition("@")[2]
    return f"{scheme}{sep}{host}" if sep else host
