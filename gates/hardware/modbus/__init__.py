"""Network relay boards and barrier controllers over Modbus (pymodbus): Modbus TCP, or
Modbus RTU on an RS485 line.

In the lane file::

    [devices.barrier]
    family = "modbus"
    host = "192.168.1.50"       # Modbus TCP; port = 502
    # serial = "/dev/ttyUSB1"   # or Modbus RTU: baud = 9600, parity = "none", stop_bits = 1
    unit = 1                    # the device id
    coil = 0                    # the coil that opens (0-based address)
    pulse_ms = 500
    state_input = 0             # where the arm's limit switch is wired, if it is
    input_up_when = true        # the input's value while the arm is up
    poll_ms = 200               # how often the input is read (and the controller checked)
    timeout_ms = 1000           # how long a request waits for its answer
"""

from __future__ import annotations

from functools import partial

from pymodbus.client import AsyncModbusSerialClient, AsyncModbusTcpClient

from gates.hardware.modbus.relay import Client, Relay, SensedRelay, Wiring
from gates.hardware.options import DeviceOptions
from gates.hardware.parts import Workshop
from gates.hardware.serial_line import serial_line


def build(options: DeviceOptions, workshop: Workshop) -> Relay:
    if options.has("host") == options.has("serial"):
        raise options.fail("host", "give either host (Modbus TCP) or serial (Modbus RTU)")
    timeout = options.integer("timeout_ms", 1000, low=100, high=10_000) / 1000
    unit = options.integer("unit", 1, low=0, high=247)
    client: Client
    if options.has("host"):
        host = options.text("host")
        port = options.integer("port", 502, low=1, high=65535)
        where = f"{host}:{port} unit {unit}"
        # Redialling is run()'s, with the lane's backoff and fault; pymodbus's own
        # reconnecting and retries are off, so a timeout is one timeout.
        client = partial(
            AsyncModbusTcpClient, host, port=port, timeout=timeout, retries=0, reconnect_delay=0
        )
    else:
        line = serial_line(options)
        where = f"{line.url} unit {unit}"
        client = partial(
            AsyncModbusSerialClient,
            line.url,
            baudrate=line.baud,
            parity=line.parity,
            stopbits=line.stop_bits,
            timeout=timeout,
            retries=0,
            reconnect_delay=0,
        )
    wiring = Wiring(
        where=where,
        unit=unit,
        coil=options.integer("coil", 0, low=0, high=65535),
        pulse=options.integer("pulse_ms", 500, low=100, high=10_000) / 1000,
        poll=options.integer("poll_ms", 200, low=50, high=10_000) / 1000,
    )
    if not options.has("state_input"):
        return Relay(options.name, client, wiring)
    return SensedRelay(
        options.name,
        client,
        wiring,
        state_input=options.integer("state_input", low=0, high=65535),
        up_when=options.flag("input_up_when", True),
    )
