"""HTTP/1.1 on one connection of the lane's push server, with the deadlines that keep a
slow or silent peer from holding it.

h11 (a sans-I/O HTTP/1.1 state machine) reads the requests and writes the replies; this
module gives it the bytes and the clock. A request's head must come within ``head_s``
of the connection or of the previous reply (so a camera keeps its connection between
polls, and a connection left idle is closed); its body must then keep up ``min_rate``
bytes a second after the same grace, so a trickle is cut off however long it claims to
be. A reply is written only to a peer that is still there, which the caller is told.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
from dataclasses import dataclass
from http import HTTPStatus

import h11

from gates.hardware.admission import body_deadline
from gates.textrules import parse_count

READ_SIZE = 64 * 1024
HEAD_MAX = 16 * 1024  # a request line and headers; a camera's are a few hundred bytes


@dataclass(frozen=True, slots=True)
class Timing:
    head_s: float = 10.0  # a head within this of the connection or of the last reply
    min_rate: int = 32 * 1024  # bytes a second a body keeps up, after head_s of grace
    linger_s: float = 1.0  # reading what a refused peer still sends, so it gets the reply


class TimedOut(Exception):
    """The peer did not send in time."""


class Gone(Exception):
    """The peer hung up in the middle of a request."""


class Malformed(Exception):
    """Bytes that are not HTTP/1.1."""

    def __init__(self, status: int, detail: str) -> None:
        super().__init__(detail)
        self.status = status


TIMING = Timing()


@dataclass(frozen=True, slots=True)
class Head:
    method: str
    path: str
    query: str
    headers: dict[str, str]  # lower-case names; a repeated header keeps its last value


class Conversation:
    """The requests and replies of one connection, in turn."""

    def __init__(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, timing: Timing
    ) -> None:
        self._reader = reader
        self._writer = writer
        self._timing = timing
        self._http = h11.Connection(h11.SERVER, max_incomplete_event_size=HEAD_MAX)
        self._method = b""

    async def head(self) -> Head | None:
        """The next request's head, or None when the peer closed between requests."""
        loop = asyncio.get_running_loop()
        event = await self._event(loop.time() + self._timing.head_s)
        if isinstance(event, h11.ConnectionClosed):
            return None
        if not isinstance(event, h11.Request):
            raise Malformed(400, f"not a request: {type(event).__name__}")
        self._method = event.method
        path, _, query = event.target.partition(b"?")
        return Head(
            method=event.method.decode("ascii"),
            path=path.decode("latin-1"),
            query=query.decode("latin-1"),
            headers={k.decode("latin-1"): v.decode("latin-1") for k, v in event.headers},
        )

    async def body(self, head: Head, limit: int) -> bytes | None:
        """The request's body, or None once it passes ``limit``: by its Content-Length
        before reading it, or by counting a chunked one."""
        declared = parse_count(head.headers.get("content-length", ""))
        if declared is not None and declared > limit:
            return None
        if self._http.they_are_waiting_for_100_continue:
            self._writer.write(
                self._http.send(h11.InformationalResponse(status_code=100, headers=[]))
            )
        loop = asyncio.get_running_loop()
        started, received, parts = loop.time(), 0, []
        timing = self._timing
        while True:
            deadline = body_deadline(started, received, timing.head_s, timing.min_rate)
            event = await self._event(deadline)
            if isinstance(event, h11.Data):
                received += len(event.data)
                if received > limit:
                    return None
                parts.append(bytes(event.data))
            elif isinstance(event, h11.EndOfMessage):
                return b"".join(parts)
            else:
                raise Gone

    async def reply(self, status: int, body: bytes, content_type: str, *, close: bool) -> bool:
        """Write a reply; False when the peer had hung up or the bytes could not go."""
        if self._hung_up():
            return False
        headers = [("content-type", content_type), ("content-length", str(len(body)))]
        if close:
            headers.append(("connection", "close"))
        http = self._http
        data = http.send(h11.Response(status_code=status, headers=headers, reason=_phrase(status)))
        if self._method != b"HEAD":  # its reply gives the length, not the body (RFC 9110 9.3.2)
            data += http.send(h11.Data(data=body))
        data += http.send(h11.EndOfMessage())
        try:
            self._writer.write(data)
            async with asyncio.timeout(self._timing.head_s):
                await self._writer.drain()
        except (OSError, TimeoutError):
            return False
        return True

    async def end(self) -> None:
        """Close after a refusal, the rest of the request unread (see ``linger``)."""
        await linger(self._writer, self._reader, self._timing)

    def next_cycle(self) -> bool:
        """Whether the connection carries another request (keep-alive), and ready it."""
        http = self._http
        if http.our_state is h11.DONE and http.their_state is h11.DONE:
            http.start_next_cycle()
            return True
        return False

    async def _event(self, deadline: float) -> object:
        while True:
            try:
                event = self._http.next_event()
            except h11.RemoteProtocolError as exc:
                raise Malformed(exc.error_status_hint, str(exc)) from None
            if event is not h11.NEED_DATA:
                return event
            try:
                async with asyncio.timeout_at(deadline):
                    data = await self._reader.read(READ_SIZE)
            except TimeoutError:
                raise TimedOut from None
            except OSError:
                raise Gone from None
            self._http.receive_data(data)

    def _hung_up(self) -> bool:
        """Whether the peer has closed its side. asyncio learns of a FIN only on a later
        turn of its loop than the request's last bytes, and a camera that gave up on its
        answer closes straight after sending, so the socket itself is asked too (a peek
        that takes nothing: the FIN reads as zero bytes)."""
        if self._reader.at_eof() or self._writer.is_closing():
            return True
        transport_socket = self._writer.get_extra_info("socket")
        if transport_socket is None:
            return False
        peek = socket.socket(fileno=transport_socket.fileno())
        try:
            return peek.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b""
        except BlockingIOError:
            return False
        except OSError:
            return True
        finally:
            peek.detach()  # the transport's socket, not ours to close


async def refuse(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, timing: Timing
) -> None:
    """A 403, before the peer's request is read, then ``linger``."""
    body = b"not a device of this lane\n"
    writer.write(
        b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\n"
        b"content-length: %d\r\nconnection: close\r\n\r\n%s" % (len(body), body)
    )
    await linger(writer, reader, timing)


async def linger(
    writer: asyncio.StreamWriter, reader: asyncio.StreamReader, timing: Timing
) -> None:
    """End our side and read what the peer still sends, for at most ``linger_s``: a
    socket closed with unread bytes sends a reset, which can reach the peer before it
    has read our reply and take the reply with it."""
    with contextlib.suppress(OSError, TimeoutError):
        async with asyncio.timeout(timing.linger_s):
            await writer.drain()
            if writer.can_write_eof():
                writer.write_eof()
            while await reader.read(READ_SIZE):
                pass


def _phrase(status: int) -> bytes:
    try:
        return HTTPStatus(status).phrase.encode("ascii")
    except ValueError:
        return b""
