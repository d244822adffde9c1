"""What a lane built from its lane file tells the console of its devices: each one's
name, family, the parts it plays and where it is, without a password."""

from __future__ import annotations

from pathlib import Path

import pytest

from gates.hardware.assembly import assemble
from gates.hardware.inventory import inventory
from gates.hardware.lane_file import parse
from gates.hardware.options import LaneFileError
from gates.protocol import MAX_DEVICES, DeviceInfo
from tests.hardware_kit import KIT

LANE = """
[devices.cam]
family = "alarminfo"
address = "192.168.1.64"

[devices.led]
family = "rs485"
via = "cam:rs485-1"

[devices.voice]
family = "rs485"
serial = "rfc2217://admin:12345@10.0.0.5:4001"

[devices.barrier]
family = "modbus"
host = "192.168.1.70"
port = 5020

[devices.door]
family = "sip"
intercom = "192.168.1.60:5062"

[parts]
gate = "cam:io0"
plates = "cam"
display = "led"
voice = "voice"
gate_state = "barrier"
intercom = "door"
"""


def test_each_device_is_named_with_its_family_its_parts_and_where_it_is() -> None:
    """In the file's order; parts in the protocol's order, a camera's output playing the
    gate on the camera; a serial line's user and password left out."""
    lane = parse(LANE, Path("lane.toml"), {})
    assert inventory(lane) == (
        DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64"),
        DeviceInfo("led", "rs485", ("display",), "cam:rs485-1"),
        DeviceInfo("voice", "rs485", ("voice",), "rfc2217://10.0.0.5:4001"),
        DeviceInfo("barrier", "modbus", ("gate_state",), "192.168.1.70"),
        DeviceInfo("door", "sip", ("intercom",), "192.168.1.60:5062"),
    )


def test_a_device_that_plays_no_part_is_listed_and_a_long_address_is_cut() -> None:
    """A camera that only lends its RS485 port is still a device to look for; where it
    is fits the lane link's 64 characters."""
    host = "camera-at-the-north-entrance-of-the-underground-car-park.example.cn"
    text = LANE.replace('address = "192.168.1.64"', f'address = "{host}"')
    text = text.replace('plates = "cam"\n', "").replace('gate = "cam:io0"', 'gate = "barrier"')
    [cam, *_] = inventory(parse(text, Path("lane.toml"), {}))
    assert cam.parts == ()
    assert len(cam.at) == 64 and cam.at == host[:63] + "…"


def test_the_assembled_lane_says_what_its_file_describes(tmp_path: Path) -> None:
    path = tmp_path / "lane.toml"
    path.write_text(
        '[devices.cam]\nfamily = "kit-camera"\naddress = "192.168.1.64"\n'
        '[devices.relay]\nfamily = "kit-relay"\n[parts]\nplates = "cam"\ngate = "relay"\n',
        encoding="utf-8",
    )
    assert assemble(path, {}, KIT).described == (
        DeviceInfo("cam", "kit-camera", ("plates",), "192.168.1.64"),
        DeviceInfo("relay", "kit-relay", ("gate",), ""),
    )


def test_a_lane_file_of_more_devices_than_the_link_carries_is_refused() -> None:
    tables = "".join(
        f'[devices.relay{n}]\nfamily = "modbus"\nhost = "10.0.0.{n}"\n'
        for n in range(MAX_DEVICES + 1)
    )
    with pytest.raises(LaneFileError, match=f"{MAX_DEVICES + 1} devices; a lane has at most 16"):
        parse(tables, Path("lane.toml"), {})
