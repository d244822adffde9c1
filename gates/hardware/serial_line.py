"""A serial line as the lane file names it, for every family that drives one: an RS485
board on a USB adapter (pyserial) and a Modbus RTU controller (pymodbus) read the same
keys with the same checks, so an installer's ``parity = "mark"`` is refused in the same
words whichever device it is under.
"""

from __future__ import annotations

from dataclasses import dataclass

from gates.hardware.options import DeviceOptions

# The lane file's word for a parity, and the letter pyserial (``serial.PARITY_NONE``,
# ``PARITY_EVEN``, ``PARITY_ODD``) and pymodbus (``parity="N"``) both take for it.
PARITIES = {"none": "N", "even": "E", "odd": "O"}


@dataclass(frozen=True, slots=True)
class SerialLine:
    url: str  # a device path, or a pyserial URL (socket://, rfc2217://)
    baud: int = 9600
    parity: str = "N"  # a letter of PARITIES
    stop_bits: int = 1


def serial_line(options: DeviceOptions, key: str = "serial") -> SerialLine:
    """The line at ``key`` with its ``baud``, ``parity`` and ``stop_bits``."""
    return SerialLine(
        url=options.text(key),
        baud=options.integer("baud", 9600, low=1200, high=115200),
        parity=PARITIES[options.text("parity", "none", choices=tuple(PARITIES))],
        stop_bits=options.integer("stop_bits", 1, low=1, high=2),
    )
