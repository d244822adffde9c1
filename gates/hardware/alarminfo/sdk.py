"""The camera's TCP SDK on the wire (framing in ``frames``): an order on a connection
of its own (``order_once``, for an open), or a question on one link held open
(``SdkLink``, for an input read many times a second, which a dial each time would turn
into a stream of connections the camera has to take and tear down).

Every failure here (no connection, a write that fails, a question unanswered within
``SDK_TIMEOUT_S``, bytes that are not the protocol) is ``Unreachable``: the camera is not
answering as a camera, and the lane's ``camera_unreachable`` says so. An order left
unanswered is not one: Vzenith's own SDK sends ``ioctl`` without waiting for an answer
(``vzenith/vzenith_tcp_protocol``: ``VzIODev::SetIOOutputAuto`` in
``src/vzsdk/vziodev.cpp`` calls ``PostReqTask`` in ``src/vzsdk/vzmodulebase.cpp``, whose
``ReqPushTask`` in ``src/vzsdk/task.cpp`` waits only for ``RES_PUSH_SUCCEED``, which
``SessionManager::OnRequestMessage`` in ``src/vzsdk/sessionmanager.cpp`` posts once the
request is written), while ``get_gpio_value`` waits for the camera's answer
(``VzIODev::GetGPIOValue``, ``SyncProcessReqTask``). So a camera need not answer an
``ioctl`` at all, and one that does not has still taken it.
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
# How long an order's answer is waited for once the order is written: time enough for a
# camera on the lane's LAN that does answer, and short, since one that never answers
# (as Vzenith's SDK allows) would hold every open for the whole wait. Not the SDK's
# own 5 s (``DEFAULT_TIMEOUT``, ``src/vzsdk/vzsdkdefines.h``), which it spends only on
# questions.
ORDER_ANSWER_S = 1.0
_FAILURES = (OSError, TimeoutError, asyncio.IncompleteReadError, frames.BadFrame)
# After an order is written: no answer in time, or the camera closing the connection in
# order (an end of stream). A reset is not among them: TCP resets a connection closed
# with bytes it had not read (RFC 1122 §4.2.2.13), so the camera did not take the order.
_UNANSWERED = (TimeoutError, asyncio.IncompleteReadError)


async def order_once(address: str, port: int, request: bytes, cmd: str) -> dict[str, Any] | None:
    """``request`` on a connection of its own; the camera's answer to ``cmd``, or None
    when none came within ``ORDER_ANSWER_S`` of the write or the camera closed the
    connection after reading it: the order was taken and the camera did not say."""
    try:
        async with asyncio.timeout(SDK_TIMEOUT_S):
            reader, writer = await asyncio.open_connection(address, port)
    except _FAILURES as exc:
        raise _unreachable(address, port, exc) from None
    try:
        try:
            async with asyncio.timeout(SDK_TIMEOUT_S):
                writer.write(request)
                await writer.drain()
        except _FAILURES as exc:
            raise _unreachable(address, port, exc) from None
        try:
            async with asyncio.timeout(ORDER_ANSWER_S):
                return await _answer(reader, cmd)
        except _UNANSWERED:
            return None
        except (OSError, frames.BadFrame) as exc:
            raise _unreachable(address, port, exc) from None
    finally:
        writer.close()
        with contextlib.suppress(OSError):
            await writer.wait_closed()


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
