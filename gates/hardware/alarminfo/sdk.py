"""The camera's TCP SDK on the wire (framing in ``frames``): a command on a connection
of its own (``ask_once``, for an open), or on one link held open (``SdkLink``, for an
input read many times a second, which a dial each time would turn into a stream of
connections the camera has to take and tear down).

Every failure here (no connection, no answer within ``SDK_TIMEOUT_S``, bytes that are not
the protocol) is ``Unreachable``: the camera is not answering as a camera, and the lane's
``camera_unreachable`` says so.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

from gates.hardware.alarminfo import frames
from gates.hardware.parts import DeviceFault, Unreachable

log = logging.getLogger("seat.lane.alarminfo")

SDK_TIMEOUT_S = 3.0
_FAILURES = (OSError, TimeoutError, asyncio.IncompleteReadError, frames.BadFrame)


async def ask_once(address: str, port: int, request: bytes, cmd: str) -> dict[str, Any]:
    """``request`` on a connection of its own; the camera's answer to ``cmd``."""
    try:
        async with asyncio.timeout(SDK_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(address, port)
            try:
                writer.write(request)
                await writer.drain()
                return await _answer(reader, cmd)
            finally:
                writer.close()
                with contextlib.suppress(OSError):
                    await writer.wait_closed()
    except _FAILURES as exc:
        raise _unreachable(address, port, exc) from None


class SdkLink:
    """One connection, dialled at the first ``ask`` after it was lost, with the SDK's
    heartbeat every ``frames.HEARTBEAT_S`` as ``ask`` goes; the camera's own heartbeats
    are skipped. One ``ask`` at a time: its single user (the input's watch) awaits each."""

    def __init__(self, address: str, port: int) -> None:
        self.address = address
        self.port = port
        self._link: tuple[asyncio.StreamReader, asyncio.StreamWriter] | None = None
        self._beat_at = 0.0

    async def ask(self, request: bytes, cmd: str) -> dict[str, Any]:
        loop = asyncio.get_running_loop()
        try:
            async with asyncio.timeout(SDK_TIMEOUT_S):
                if self._link is None:
                    self._link = await asyncio.open_connection(self.address, self.port)
                    self._beat_at = loop.time()
                    log.info("lane.alarminfo.sdk_link address=%s port=%d", self.address, self.port)
                reader, writer = self._link
                if loop.time() - self._beat_at >= frames.HEARTBEAT_S:
                    writer.write(frames.frame(frames.HEARTBEAT))
                    self._beat_at = loop.time()
                writer.write(request)
                await writer.drain()
                return await _answer(reader, cmd)
        except _FAILURES as exc:
            self.close()
            raise _unreachable(self.address, self.port, exc) from None
        except asyncio.CancelledError:
            self.close()  # an answer left unread would be taken for the next ask's
            raise

    def fail(self, problem: str) -> Unreachable:
        """An answer that was the protocol's but said nothing usable: the link is
        dropped, so the next ask starts clean."""
        self.close()
        return _unreachable(self.address, self.port, problem)

    def close(self) -> None:
        if self._link is not None:
            self._link[1].close()
            self._link = None


async def _answer(reader: asyncio.StreamReader, cmd: str) -> dict[str, Any]:
    """The camera's answer to ``cmd``, past its heartbeats and any other packet."""
    while True:
        head = frames.header(await reader.readexactly(frames.HEADER.size))
        body = await reader.readexactly(head.length)
        if head.kind != frames.JSON:
            continue
        answer = frames.answer(body)
        if answer.get("cmd") == cmd:
            return answer


def _unreachable(address: str, port: int, problem: object) -> Unreachable:
    said = problem if isinstance(problem, str) else repr(problem)
    return Unreachable(DeviceFault.CAMERA_UNREACHABLE, f"the TCP SDK on {address}:{port}: {said}")
