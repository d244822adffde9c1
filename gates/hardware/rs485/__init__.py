"""RS485 LED and voice boards (the OLM protocol's ``00 64 FF FF`` frames): the lane's
display and speaker, on a camera's serial passthrough or a USB-RS485 adapter.

In the lane file::

    [devices.led]
    family = "rs485"
    via = "cam:rs485-1"        # or: serial = "/dev/ttyUSB0", baud = 9600, parity = "none"
    lines = 4                  # what the board shows, announced to the centre
    chars = 16
    colour = "red"             # red, green, yellow
    address = 0                # the board's DA
    reply_wait = 0.0           # seconds to read a board's echo (adapter only; 0: do not wait)
"""

from __future__ import annotations

from gates.hardware.options import DeviceOptions
from gates.hardware.parts import SerialHost, Workshop
from gates.hardware.rs485 import frames
from gates.hardware.rs485.adapter import Adapter
from gates.hardware.rs485.board import Board
from gates.hardware.serial_line import serial_line
from gates.protocol import MAX_DISPLAY_LINE, MAX_DISPLAY_LINES, DisplaySize


def build(options: DeviceOptions, workshop: Workshop) -> Board:
    if options.has("via") == options.has("serial"):
        raise options.fail("via", "give either via (a camera's port) or serial (an adapter)")
    size = DisplaySize(
        options.integer("lines", 4, low=1, high=MAX_DISPLAY_LINES),
        options.integer("chars", 16, low=1, high=MAX_DISPLAY_LINE),
    )
    colour = frames.COLOURS[options.text("colour", "red", choices=tuple(frames.COLOURS))]
    address = options.integer("address", frames.ADDRESS, low=0, high=0xFF)
    if options.has("via"):
        camera, _, port_name = options.text("via").partition(":")
        host = workshop.device(camera)
        if not isinstance(host, SerialHost) or not port_name:
            raise options.fail("via", f"{camera!r} has no serial port {port_name!r}")
        return Board(
            options.name,
            port=host.serial_port(port_name),
            size=size,
            colour=colour,
            address=address,
        )
    return Board(
        options.name,
        port=Adapter(serial_line(options)),
        size=size,
        colour=colour,
        address=address,
        reply_wait=options.seconds("reply_wait", 0.0, low=0.0, high=2.0),
    )
