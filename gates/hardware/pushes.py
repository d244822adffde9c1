"""The lane agent's HTTP server, where cameras push what they see.

AlarmInfoPlate cameras POST each plate to a URL set in their web page; Hikvision's
"listening host" does the same with multipart XML. The server sits on the lane's LAN,
which is not a trusted place: a connection is judged by its address as it is accepted
(``admission.py``), so a stranger gets a 403 and never uses what the devices' pushes
need; a device's push is taken only up to a size limit and within the deadlines of
``push_http.py``, before any device code reads a byte of it. The device then answers
in its own protocol (a camera that gets no well-formed reply stores and resends, so
every push is answered), and learns whether its answer went out.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Protocol

from gates.hardware.admission import CAPS, Admission, Caps, Quieted, Verdict
from gates.hardware.push_http import (
    TIMING,
    Conversation,
    Gone,
    Malformed,
    TimedOut,
    Timing,
    refuse,
)

log = logging.getLogger("seat.lane.push")

# A plate push carries one or two JPEGs (a scene and a plate crop), base64 in JSON or raw
# in multipart: a few hundred KB. A limit well above that and well below what would hurt
# the lane's memory; a lane file can change it per listener.
MAX_PUSH_BYTES = 4 * 1024 * 1024


@dataclass(frozen=True, slots=True)
class Push:
    """One request from a device, already checked for its sender and size."""

    peer: str
    method: str
    path: str
    query: str
    headers: Mapping[str, str]  # lower-case names; a repeated header keeps its last value
    body: bytes


@dataclass(frozen=True, slots=True)
class PushReply:
    """A device's answer. ``sent`` is called once its bytes were written to a peer still
    there; ``unsent`` when the peer had hung up or the write failed, so what the answer
    carried (a camera's orders) can go in a later one."""

    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"
    sent: Callable[[], None] | None = None
    unsent: Callable[[], None] | None = None


class PushTarget(Protocol):
    """A device that pushes to the lane: its address on the LAN (only its pushes reach
    it) and the paths it posts to."""

    @property
    def address(self) -> str: ...

    @property
    def paths(self) -> tuple[str, ...]: ...

    async def receive(self, push: Push) -> PushReply: ...


class PushListener:
    """One listening address of the lane agent; the devices that push to it are told
    apart by their address."""

    def __init__(
        self,
        host: str,
        port: int,
        max_bytes: int = MAX_PUSH_BYTES,
        *,
        timing: Timing = TIMING,
        caps: Caps = CAPS,
    ) -> None:
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self.timing = timing
        self._targets: dict[str, PushTarget] = {}
        self._admission = Admission(self._targets.keys(), caps)
        self._quiet = Quieted()
        self._socket: socket.socket | None = None
        self._connections: set[asyncio.Task[object]] = set()

    def add(self, target: PushTarget) -> None:
        if target.address in self._targets:
            raise ValueError(f"two devices push from {target.address} to {self.host}:{self.port}")
        self._targets[target.address] = target

    def bind(self) -> int:
        """Take the port now, so a port in use stops the lane at start, and return it
        (the real one, for port 0)."""
        if self._socket is None:
            family = socket.AF_INET6 if ":" in self.host else socket.AF_INET
            sock = socket.socket(family, socket.SOCK_STREAM)
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            # Accepted sockets inherit it (Linux); asyncio sets it only on sockets made
            # with IPPROTO_TCP, and without it an answer waits on the camera's delayed ACK.
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            try:
                sock.bind((self.host, self.port))
            except OSError:
                sock.close()
                raise
            sock.listen(64)
            self._socket = sock
            self.port = sock.getsockname()[1]
        return self.port

    async def run(self) -> None:
        """Serve until cancelled; the connections open then are closed with it."""
        self.bind()
        server = await asyncio.start_server(self._connected, sock=self._socket)
        try:
            await server.serve_forever()
        finally:
            server.close()
            for task in self._connections:
                task.cancel()
            await asyncio.gather(*self._connections, return_exceptions=True)
            self.close()

    def close(self) -> None:
        """Let go of the port (``run`` does so as it ends)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def _connected(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._connections.add(task)
        peername = writer.get_extra_info("peername")
        admitted = self._admission.admit(peername[0] if peername else "")
        try:
            if admitted.verdict is Verdict.ADMIT:
                await self._converse(admitted.peer, Conversation(reader, writer, self.timing))
            else:
                said = self._quiet.note(admitted.peer, time.monotonic())
                if said is not None:
                    log.warning(
                        "lane.push.refused reason=%s peer=%s count=%d",
                        admitted.reason,
                        admitted.peer,
                        said,
                    )
                if admitted.verdict is Verdict.REFUSE:
                    await refuse(writer, reader, self.timing)
        except asyncio.CancelledError:
            # Only ``run`` cancels a connection, as it ends. The task ends as if the peer
            # had closed: Python 3.11's stream server asks a cancelled one for its
            # exception, and logs the CancelledError it gets as an error.
            pass
        finally:
            self._admission.release(admitted)
            self._connections.discard(task)
            writer.close()

    async def _converse(self, peer: str, http: Conversation) -> None:
        """A device's requests on one connection, answered in turn."""
        target = self._targets[peer]
        while True:
            try:
                head = await http.head()
                if head is None:
                    return
                if head.path not in target.paths:
                    log.warning("lane.push.refused reason=path peer=%s path=%s", peer, head.path)
                    return await self._refuse(http, 404, b"no such path\n")
                body = await http.body(head, self.max_bytes)
            except TimedOut:
                log.warning("lane.push.dropped reason=too_slow peer=%s", peer)
                return
            except Gone:
                log.warning("lane.push.dropped reason=disconnected peer=%s", peer)
                return
            except Malformed as exc:
                log.warning("lane.push.refused reason=malformed peer=%s error=%s", peer, exc)
                return await self._refuse(http, exc.status, b"bad request\n")
            if body is None:
                log.warning(
                    "lane.push.refused reason=too_large peer=%s limit=%d", peer, self.max_bytes
                )
                return await self._refuse(http, 413, b"too large\n")
            push = Push(peer, head.method, head.path, head.query, head.headers, body)
            try:
                reply = await target.receive(push)
            except Exception:
                # A device's fault, not the peer's: said, and logged with its traceback.
                log.exception("lane.push.failed peer=%s path=%s", peer, head.path)
                return await self._refuse(http, 500, b"the lane could not take this\n")
            if await http.reply(reply.status, reply.body, reply.content_type, close=False):
                if reply.sent is not None:
                    reply.sent()
            else:
                log.warning("lane.push.unanswered reason=hung_up peer=%s path=%s", peer, head.path)
                if reply.unsent is not None:
                    reply.unsent()
                return
            if not http.next_cycle():
                return

    async def _refuse(self, http: Conversation, status: int, body: bytes) -> None:
        """A refusal that ends the connection: what the request had left is not read."""
        await http.reply(status, body, "text/plain; charset=utf-8", close=True)
        await http.end()
