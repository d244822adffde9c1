"""A Modbus relay board wired to a barrier, over real sockets: Modbus TCP (MBAP), or
Modbus RTU carried over TCP as a serial device server carries it.

Written from the Modbus Application Protocol v1.1b3 (function codes 01 read coils, 02
read discrete inputs, 05 write single coil, and the exception replies) and the Modbus
over Serial Line v1.02 RTU frame (unit, PDU, CRC-16 low byte first), rather than with
pymodbus's server, so the client under test meets an implementation other than its own.

The barrier: a coil switched on lifts the arm unless the barrier is locked; the
discrete input reads the arm (its value while the arm is up is ``input_up_when``); the
arm stays up until ``lower`` (the car went through). Every coil write is logged with its
time. Faults: ``stop`` (unreachable), ``delay`` (a slow controller), ``exception`` (every
request answered with that exception code), ``silent`` (requests read, never answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from gates.hardware.rs485.frames import crc16_modbus
from tests.emulators.tcp import TcpDevice, TcpPort

READ_COILS = 0x01
READ_INPUTS = 0x02
WRITE_COIL = 0x05
ILLEGAL_FUNCTION = 0x01
ILLEGAL_ADDRESS = 0x02
SIZE = 16  # coils and inputs the board has


@dataclass
class CoilWrite:
    at: float  # perf_counter as the controller switched it
    coil: int
    on: bool


@dataclass
class Barrier:
    locked: bool = False
    up: bool = False
    lifts: int = 0


@dataclass
class RelayEmulator(TcpDevice):
    unit: int = 1
    coil: int = 0  # the coil wired to the barrier's open contact
    state_input: int = 0
    input_up_when: bool = True
    rtu: bool = False
    delay: float = 0.0
    exception: int | None = None
    silent: bool = False
    barrier: Barrier = field(default_factory=Barrier)
    coils: list[bool] = field(default_factory=lambda: [False] * SIZE)
    writes: list[CoilWrite] = field(default_factory=list)
    requests: int = 0
    _changed: asyncio.Condition = field(default_factory=asyncio.Condition)
    _tcp: TcpPort = field(init=False)

    def __post_init__(self) -> None:
        self._tcp = TcpPort(self._serve)

    def lower(self) -> None:
        self.barrier.up = False

    def inputs(self) -> list[bool]:
        bits = [False] * SIZE
        bits[self.state_input] = self.barrier.up == self.input_up_when
        return bits

    async def wait_until(self, holds: Callable[[], bool]) -> None:
        async with asyncio.timeout(30), self._changed:
            await self._changed.wait_for(holds)

    async def wait_writes(self, count: int) -> list[CoilWrite]:
        await self.wait_until(lambda: len(self.writes) >= count)
        return self.writes[:count]

    async def wait_requests(self, count: int) -> None:
        await self.wait_until(lambda: self.requests >= count)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with (
            self._tcp.connection(writer),
            contextlib.suppress(asyncio.IncompleteReadError, ConnectionResetError),
        ):
            while True:
                if self.rtu:
                    frame = await reader.readexactly(8)  # every request here is 8 bytes
                    if crc16_modbus(frame[:-2]) != int.from_bytes(frame[-2:], "little"):
                        continue  # a bad CRC is not answered (Modbus over Serial Line §2.5.1)
                    header, unit, pdu = b"", frame[0], frame[1:-2]
                else:
                    header = await reader.readexactly(7)
                    unit = header[6]
                    pdu = await reader.readexactly(int.from_bytes(header[4:6], "big") - 1)
                answer = self._answer(pdu)
                self.requests += 1
                async with self._changed:
                    self._changed.notify_all()
                if self.silent or unit != self.unit:
                    continue
                if self.delay:
                    await asyncio.sleep(self.delay)  # the slow controller's own time
                writer.write(self._frame(header, unit, answer))
                await writer.drain()

    def _frame(self, header: bytes, unit: int, pdu: bytes) -> bytes:
        if self.rtu:
            body = bytes((unit,)) + pdu
            return body + crc16_modbus(body).to_bytes(2, "little")
        return header[:4] + (len(pdu) + 1).to_bytes(2, "big") + bytes((unit,)) + pdu

    def _answer(self, pdu: bytes) -> bytes:
        function = pdu[0]
        if self.exception is not None:
            return bytes((function | 0x80, self.exception))
        address, value = int.from_bytes(pdu[1:3], "big"), int.from_bytes(pdu[3:5], "big")
        if function == WRITE_COIL:
            if address >= SIZE or value not in (0x0000, 0xFF00):
                return bytes((function | 0x80, ILLEGAL_ADDRESS))
            self._switch(address, value == 0xFF00)
            return pdu  # the echo that says it is done
        if function in (READ_COILS, READ_INPUTS):
            if not 1 <= value <= 2000 or address + value > SIZE:
                return bytes((function | 0x80, ILLEGAL_ADDRESS))
            bits = (self.coils if function == READ_COILS else self.inputs())[address:][:value]
            packed = bytes(
                sum(bit << n for n, bit in enumerate(bits[i : i + 8]))
                for i in range(0, len(bits), 8)
            )
            return bytes((function, len(packed))) + packed
        return bytes((function | 0x80, ILLEGAL_FUNCTION))

    def _switch(self, address: int, on: bool) -> None:
        rising = on and not self.coils[address]
        self.coils[address] = on
        self.writes.append(CoilWrite(time.perf_counter(), address, on))
        if rising and address == self.coil and not self.barrier.locked:
            self.barrier.up = True
            self.barrier.lifts += 1
