"""A serial line in the lane file: one reader for every family that drives one."""

from __future__ import annotations

from pathlib import Path

import pytest

from gates.hardware import modbus, rs485
from gates.hardware.options import DeviceOptions, LaneFileError
from gates.hardware.serial_line import SerialLine, serial_line
from tests.hardware import Workshop


def options(table: dict[str, object]) -> DeviceOptions:
    return DeviceOptions(Path("lane.toml"), "line", table)


def test_a_line_is_its_url_baud_parity_and_stop_bits() -> None:
    table: dict[str, object] = {"serial": "/dev/ttyUSB0", "baud": 19200, "parity": "even"}
    read = options({**table, "stop_bits": 2})
    assert serial_line(read) == SerialLine("/dev/ttyUSB0", 19200, "E", 2)
    assert read.unused() == []
    assert serial_line(options({"serial": "socket://10.0.0.9:4001"})) == SerialLine(
        "socket://10.0.0.9:4001", 9600, "N", 1
    )


@pytest.mark.parametrize(
    ("table", "words"),
    [
        ({"baud": 300}, "baud: must be from 1200 to 115200, not 300"),
        ({"baud": 9600.0}, "baud: must be int, not 9600.0"),
        ({"parity": "mark"}, "parity: must be one of none, even, odd, not 'mark'"),
        ({"stop_bits": 3}, "stop_bits: must be from 1 to 2, not 3"),
    ],
)
def test_a_wrong_line_is_refused_in_the_same_words_by_every_family(
    table: dict[str, object], words: str
) -> None:
    """An RS485 board on an adapter and a Modbus RTU controller read one line the
    same way, so an installer's mistake reads the same under either."""
    said = []
    for family, build in (("rs485", rs485.build), ("modbus", modbus.build)):
        with pytest.raises(LaneFileError) as refused:
            build(options({"family": family, "serial": "/dev/ttyUSB0", **table}), Workshop())
        said.append(str(refused.value))
    assert said[0] == said[1] == f"lane.toml: device 'line', {words}"
