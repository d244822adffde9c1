"""A USB-RS485 adapter the lane agent drives itself, through pyserial.

pyserial's calls block, so each exchange runs on a worker thread and the event loop never
waits on a serial line; one exchange at a time, since an RS485 bus is half-duplex and a
reply must not be read by the next command. ``serial_for_url`` also opens
``socket://host:port`` (a serial device server on the LAN, and how the tests reach their
emulated bus over a real socket) and ``rfc2217://``.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable
from typing import Protocol, TypeVar, cast

import serial

from gates.backoff import Backoff
from gates.hardware.latch import FaultLatch
from gates.hardware.parts import DeviceFault, Emit, Unreachable
from gates.hardware.serial_line import SerialLine

log = logging.getLogger(__name__)
T = TypeVar("T")


class _Line(Protocol):
    """What every port ``serial_for_url`` opens has, which its stubs type only on
    ``serial.Serial``."""

    timeout: float | None
    in_waiting: int

    def reset_input_buffer(self) -> None: ...
    def write(self, data: bytes, /) -> int | None: ...
    def flush(self) -> None: ...
    def read(self, size: int = 1, /) -> bytes: ...
    def close(self) -> None: ...


class Adapter:
    """The adapter's port, opened on first use and reopened after it fails; ``watch``
    raises ``display_unreachable`` while it cannot be opened (unplugged, a device
    server that refuses) and clears it when it opens again."""

    def __init__(self, settings: SerialLine) -> None:
        self.settings = settings
        self._port: _Line | None = None
        self._lock = asyncio.Lock()
        self._lost = asyncio.Event()

    async def write(self, data: bytes) -> None:
        await self.exchange(data, None, 0.0)

    async def exchange(
        self, data: bytes, answered: Callable[[bytes], bool] | None, wait: float
    ) -> bytes:
        """Send ``data``, then read for up to ``wait`` seconds, handing each chunk to
        ``answered`` until it says the answer is whole; returns the bytes read."""
        async with self._lock:
            try:
                return await _in_thread(self._exchange, data, answered, wait)
            except Unreachable:
                self._lost.set()
                raise

    def _exchange(
        self, data: bytes, answered: Callable[[bytes], bool] | None, wait: float
    ) -> bytes:
        port = self._port or self._open()
        got = b""
        try:
            port.reset_input_buffer()
            port.write(data)
            port.flush()
            deadline = time.monotonic() + wait
            while answered is not None and (left := deadline - time.monotonic()) > 0:
                port.timeout = left
                chunk = port.read(max(1, port.in_waiting))
                got += chunk
                if chunk and answered(chunk):
                    break
        except (serial.SerialException, OSError) as exc:
            _close(port)
            self._port = None
            raise self._unreachable(exc) from None
        return got

    def _open(self) -> _Line:
        try:
            port = cast(
                _Line,
                serial.serial_for_url(
                    self.settings.url,
                    baudrate=self.settings.baud,
                    parity=self.settings.parity,
                    stopbits=self.settings.stop_bits,
                    timeout=0,
                ),
            )
        except (serial.SerialException, OSError, ValueError) as exc:
            raise self._unreachable(exc) from None
        self._port = port
        return port

    def _unreachable(self, exc: Exception) -> Unreachable:
        return Unreachable(DeviceFault.DISPLAY_UNREACHABLE, f"{self.settings.url}: {exc}")

    async def watch(self, emit: Emit) -> None:
        backoff = Backoff()
        latch = FaultLatch(emit, DeviceFault.DISPLAY_UNREACHABLE, self.settings.url)
        while True:
            self._lost.clear()
            try:
                async with self._lock:
                    if self._port is None:
                        await _in_thread(self._open)
            except Unreachable as exc:
                latch.raise_(exc.detail)
                await asyncio.sleep(backoff.next())
                continue
            latch.clear()
            backoff.reset()
            await self._lost.wait()

    async def close(self) -> None:
        if self._port is not None:
            await _in_thread(_close, self._port)
            self._port = None


def _close(port: _Line) -> None:
    """pyserial's ``socket://`` close shuts the socket down first and, when that fails
    (the far end already reset it), never closes it: the descriptor would leak until
    the collector found it."""
    sock = getattr(port, "_socket", None)
    port.close()
    if isinstance(sock, socket.socket):
        sock.close()


async def _in_thread(call: Callable[..., T], *args: object) -> T:
    """``call`` on a worker thread; cancelled, it still waits for the thread to let go
    of the port, so the next exchange (or the close) finds it as the thread left it."""
    job = asyncio.ensure_future(asyncio.to_thread(call, *args))
    try:
        return await asyncio.shield(job)
    except asyncio.CancelledError:
        await asyncio.wait([job])
        if not job.cancelled():
            job.exception()  # retrieved: the caller was cancelled, its outcome is moot
        raise
