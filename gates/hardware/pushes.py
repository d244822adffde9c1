"""The lane agent's HTTP server, where cameras push what they see.

AlarmInfoPlate cameras POST each plate to a URL set in their web page; Hikvision's
"listening host" does the same with multipart XML. The server sits on the lane's LAN,
which is not a trusted place: a push is taken only from the address of a device the lane
file names, and only up to a size limit, before any device code reads a byte of it. The
device then answers in its own protocol (a camera that gets no well-formed reply stores
and resends, so every push is answered).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import socket
from collections.abc import Awaitable, Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol

import uvicorn

from gates.textrules import parse_count

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
    status: int
    body: bytes = b""
    content_type: str = "text/plain; charset=utf-8"


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

    def __init__(self, host: str, port: int, max_bytes: int = MAX_PUSH_BYTES) -> None:
        self.host = host
        self.port = port
        self.max_bytes = max_bytes
        self._targets: dict[str, PushTarget] = {}
        self._socket: socket.socket | None = None

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
        """Serve until cancelled."""
        self.bind()
        assert self._socket is not None
        config = uvicorn.Config(
            self,
            lifespan="off",
            log_config=None,
            access_log=False,
            server_header=False,
            # A camera pushes one car at a time; a flood of connections is not a camera.
            limit_concurrency=32,
            timeout_keep_alive=30,
        )
        server = _Embedded(config)
        serving = asyncio.create_task(server.serve(sockets=[self._socket]))
        try:
            await asyncio.shield(serving)
        finally:
            server.should_exit = True
            await serving
            self.close()

    def close(self) -> None:
        """Let go of the port (``run`` does so as it ends)."""
        if self._socket is not None:
            self._socket.close()
            self._socket = None

    async def __call__(
        self,
        scope: dict[str, Any],
        receive: Callable[[], Awaitable[dict[str, Any]]],
        send: Callable[[dict[str, Any]], Awaitable[None]],
    ) -> None:
        if scope["type"] != "http":
            return
        peer = scope["client"][0] if scope.get("client") else ""
        target = self._targets.get(peer)
        if target is None:
            log.warning("lane.push.refused reason=stranger peer=%s path=%s", peer, scope["path"])
            await _reply(send, PushReply(403, b"not a device of this lane\n"))
            return
        if scope["path"] not in target.paths:
            log.warning("lane.push.refused reason=path peer=%s path=%s", peer, scope["path"])
            await _reply(send, PushReply(404, b"no such path\n"))
            return
        headers = {k.decode("latin-1").lower(): v.decode("latin-1") for k, v in scope["headers"]}
        try:
            body = await self._body(headers, receive)
        except _Gone:
            log.warning("lane.push.dropped reason=disconnected peer=%s", peer)
            return
        if body is None:
            log.warning("lane.push.refused reason=too_large peer=%s limit=%d", peer, self.max_bytes)
            await _reply(send, PushReply(413, b"too large\n"))
            return
        push = Push(
            peer=peer,
            method=scope["method"],
            path=scope["path"],
            query=scope["query_string"].decode("latin-1"),
            headers=headers,
            body=body,
        )
        await _reply(send, await target.receive(push))

    async def _body(
        self, headers: Mapping[str, str], receive: Callable[[], Awaitable[dict[str, Any]]]
    ) -> bytes | None:
        """The request body, or None once it passes the limit: by its Content-Length
        before reading it, or by counting a chunked one."""
        declared = parse_count(headers.get("content-length", ""))
        if declared is not None and declared > self.max_bytes:
            return None
        chunks: list[bytes] = []
        size = 0
        while True:
            message = await receive()
            if message["type"] == "http.disconnect":
                raise _Gone
            chunk = message.get("body", b"")
            size += len(chunk)
            if size > self.max_bytes:
                return None
            chunks.append(chunk)
            if not message.get("more_body", False):
                return b"".join(chunks)


async def _reply(send: Callable[[dict[str, Any]], Awaitable[None]], reply: PushReply) -> None:
    await send(
        {
            "type": "http.response.start",
            "status": reply.status,
            "headers": [
                (b"content-type", reply.content_type.encode("latin-1")),
                (b"content-length", str(len(reply.body)).encode()),
            ],
        }
    )
    await send({"type": "http.response.body", "body": reply.body})


class _Gone(Exception):
    """The device hung up before its push was whole; there is no one to answer."""


class _Embedded(uvicorn.Server):
    """uvicorn inside the lane agent, which has its own signal handling: uvicorn would
    replace the agent's SIGTERM handler for as long as it serves."""

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield
