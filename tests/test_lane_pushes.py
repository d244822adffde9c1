"""The lane's HTTP server for camera pushes, over real sockets: only the lane's devices
get in, only up to the limit, and each push reaches its device whole."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import httpx
import pytest

from gates.hardware.admission import Caps
from gates.hardware.push_http import Timing
from gates.hardware.pushes import Push, PushListener, PushReply


class Camera:
    """A push target that keeps what it got and answers ``ok``."""

    def __init__(self, address: str) -> None:
        self.address = address
        self.paths = ("/plate",)
        self.got: list[Push] = []

    async def receive(self, push: Push) -> PushReply:
        self.got.append(push)
        return PushReply(200, b'{"ok":true}', "application/json")


@pytest.fixture
async def listening() -> AsyncIterator[tuple[PushListener, Camera]]:
    listener = PushListener("127.0.0.1", 0, max_bytes=1000)
    camera = Camera("127.0.0.1")
    listener.add(camera)
    listener.bind()
    task = asyncio.create_task(listener.run())
    yield listener, camera
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


def client(local: str = "127.0.0.1") -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.AsyncHTTPTransport(local_address=local))


async def test_a_push_reaches_its_device_whole(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, camera = listening
    async with client() as http:
        reply = await http.post(
            f"http://127.0.0.1:{listener.port}/plate?x=1",
            content=b'{"AlarmInfoPlate":{}}',
            headers={"Content-Type": "application/json"},
        )
    assert (reply.status_code, reply.content) == (200, b'{"ok":true}')
    [push] = camera.got
    assert (push.peer, push.method, push.path, push.query) == ("127.0.0.1", "POST", "/plate", "x=1")
    assert push.headers["content-type"] == "application/json"
    assert push.body == b'{"AlarmInfoPlate":{}}'


async def test_a_stranger_is_refused_before_the_device_sees_it(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, camera = listening
    async with client("127.0.0.2") as http:
        reply = await http.post(f"http://127.0.0.1:{listener.port}/plate", content=b"{}")
    assert reply.status_code == 403
    assert camera.got == []


async def test_an_unknown_path_is_refused(listening: tuple[PushListener, Camera]) -> None:
    listener, camera = listening
    async with client() as http:
        reply = await http.post(f"http://127.0.0.1:{listener.port}/admin", content=b"{}")
    assert reply.status_code == 404
    assert camera.got == []


async def test_a_body_over_the_limit_is_refused_by_length_and_by_count(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, camera = listening

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(11):
            yield b"x" * 100

    async with client() as http:
        declared = await http.post(f"http://127.0.0.1:{listener.port}/plate", content=b"x" * 1001)
        chunked = await http.post(f"http://127.0.0.1:{listener.port}/plate", content=chunks())
        at_limit = await http.post(f"http://127.0.0.1:{listener.port}/plate", content=b"x" * 1000)
    assert (declared.status_code, chunked.status_code, at_limit.status_code) == (413, 413, 200)
    assert [len(push.body) for push in camera.got] == [1000]


async def test_a_stopped_listener_lets_go_of_its_port() -> None:
    listener = PushListener("127.0.0.1", 0)
    port = listener.bind()
    task = asyncio.create_task(listener.run())
    async with client() as http:
        assert (await http.get(f"http://127.0.0.1:{port}/")).status_code == 403
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)
    again = PushListener("127.0.0.1", port)
    assert again.bind() == port
    again.close()


def test_a_cameras_connection_has_nagle_off() -> None:
    """An answer must not wait ~40 ms on the camera's delayed ACK: accepted connections
    inherit TCP_NODELAY from the listening socket."""
    listener = PushListener("127.0.0.1", 0)
    port = listener.bind()
    try:
        with socket.create_connection(("127.0.0.1", port)):
            assert listener._socket is not None
            accepted, _ = listener._socket.accept()
            with accepted:
                assert accepted.getsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY)
    finally:
        listener.close()


def test_two_devices_cannot_push_from_one_address() -> None:
    listener = PushListener("127.0.0.1", 0)
    listener.add(Camera("10.0.0.5"))
    with pytest.raises(ValueError, match=r"10\.0\.0\.5"):
        listener.add(Camera("10.0.0.5"))


async def raw(
    port: int, local: str = "127.0.0.1"
) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
    """A TCP connection to the listener from ``local``, for bytes httpx would not send."""
    return await asyncio.open_connection("127.0.0.1", port, local_addr=(local, 0))


async def exchange(port: int, request: bytes) -> bytes:
    """What the listener writes back to ``request`` before it closes the connection."""
    reader, writer = await raw(port)
    writer.write(request)
    async with asyncio.timeout(10):
        answer = await reader.read()
    writer.close()
    return answer


async def test_strangers_holding_connections_open_do_not_keep_the_device_out(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, camera = listening
    strangers = [
        await raw(listener.port, f"127.0.0.{2 + n % 10}") for n in range(48)
    ]  # idle: not a byte sent
    try:
        async with client() as http:
            reply = await http.post(f"http://127.0.0.1:{listener.port}/plate", content=b"{}")
        assert (reply.status_code, reply.content) == (200, b'{"ok":true}')
        assert [push.body for push in camera.got] == [b"{}"]
        async with asyncio.timeout(10):
            heard = {await reader.read() for reader, _ in strangers}
        # Each got a 403 as it connected, or, past the strangers' budget, nothing.
        assert heard == {
            b"",
            b"HTTP/1.1 403 Forbidden\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: 26\r\nconnection: close\r\n\r\nnot a device of this lane\n",
        }
    finally:
        for _, writer in strangers:
            writer.close()


@pytest.fixture
async def impatient() -> AsyncIterator[tuple[PushListener, Camera]]:
    """A listener that waits 0.3 s for a head, and for a body's first bytes."""
    listener = PushListener("127.0.0.1", 0, max_bytes=1000, timing=Timing(head_s=0.3))
    camera = Camera("127.0.0.1")
    listener.add(camera)
    task = asyncio.create_task(listener.run())
    listener.bind()
    yield listener, camera
    task.cancel()
    await asyncio.gather(task, return_exceptions=True)


@pytest.mark.parametrize(
    "sent",
    [
        b"",  # connected, then silent
        b"POST /plate HTT",  # a head begun and never finished
        b"POST /plate HTTP/1.1\r\nhost: x\r\ncontent-length: 100\r\n\r\n{",  # a trickle
    ],
)
async def test_a_device_connection_that_goes_quiet_is_closed(
    impatient: tuple[PushListener, Camera], sent: bytes
) -> None:
    listener, camera = impatient
    assert await exchange(listener.port, sent) == b""
    assert camera.got == []


@pytest.mark.parametrize(
    "request_bytes",
    [
        b"GARBAGE\r\n\r\n",
        b"POST /plate HTTP/1.1\r\nhost: x\r\nx-bad: a\x00b\r\ncontent-length: 2\r\n\r\n{}",
        b"POST /plate HTTP/1.1\r\nhost: x\r\nbad name: 1\r\ncontent-length: 2\r\n\r\n{}",
        b"POST /plate HTTP/1.1\r\nhost: x\r\ncontent-length: two\r\n\r\n{}",
        # A chunk not ended by CRLF (what h11 before 0.16 let through: CVE-2025-43859).
        b"POST /plate HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n2\r\n{}XX0\r\n\r\n",
    ],
)
async def test_malformed_http_is_refused_with_400_and_closed(
    listening: tuple[PushListener, Camera], request_bytes: bytes
) -> None:
    listener, camera = listening
    answer = await exchange(listener.port, request_bytes)
    assert answer.startswith(b"HTTP/1.1 400 Bad Request\r\n")
    assert b"connection: close\r\n" in answer and answer.endswith(b"\r\n\r\nbad request\n")
    assert camera.got == []


async def test_oversized_bodies_are_refused_with_413_before_the_device_sees_them(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, camera = listening
    declared = b"POST /plate HTTP/1.1\r\nhost: x\r\ncontent-length: 1001\r\n\r\n"
    chunked = b"POST /plate HTTP/1.1\r\nhost: x\r\ntransfer-encoding: chunked\r\n\r\n"
    chunked += b"1f4\r\n" + b"x" * 500 + b"\r\n" + b"1f5\r\n" + b"x" * 501 + b"\r\n0\r\n\r\n"
    for request_bytes in (declared, chunked):
        answer = await exchange(listener.port, request_bytes)
        assert answer.startswith(b"HTTP/1.1 413 Request Entity Too Large\r\n")
        assert answer.endswith(b"\r\n\r\ntoo large\n")
    assert camera.got == []


async def test_a_device_sends_two_pushes_on_one_connection(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, camera = listening
    reader, writer = await raw(listener.port)
    try:
        for body in (b"[1]", b"[2]"):
            writer.write(b"POST /plate HTTP/1.1\r\nhost: x\r\ncontent-length: 3\r\n\r\n" + body)
            async with asyncio.timeout(10):
                head = await reader.readuntil(b"\r\n\r\n")
                assert head.startswith(b"HTTP/1.1 200 OK\r\n")
                assert await reader.readexactly(11) == b'{"ok":true}'
    finally:
        writer.close()
    assert [push.body for push in camera.got] == [b"[1]", b"[2]"]


class Courier(Camera):
    """A push target whose answers say whether they went out."""

    def __init__(self, address: str) -> None:
        super().__init__(address)
        self.fate: asyncio.Queue[str] = asyncio.Queue()

    async def receive(self, push: Push) -> PushReply:
        self.got.append(push)
        return PushReply(
            200,
            b"{}",
            sent=lambda: self.fate.put_nowait(f"sent {push.body!r}"),
            unsent=lambda: self.fate.put_nowait(f"unsent {push.body!r}"),
        )


async def test_a_reply_knows_whether_it_went_out() -> None:
    listener = PushListener("127.0.0.1", 0)
    courier = Courier("127.0.0.1")
    listener.add(courier)
    listener.bind()
    task = asyncio.create_task(listener.run())
    try:
        async with client() as http:
            assert (
                await http.post(f"http://127.0.0.1:{listener.port}/plate", content=b"1")
            ).is_success
        _, writer = await raw(listener.port)
        # A camera that gave up on its answer: the request, then closed, unread.
        writer.write(b"POST /plate HTTP/1.1\r\nhost: x\r\ncontent-length: 1\r\n\r\n2")
        writer.get_extra_info("socket").shutdown(socket.SHUT_RDWR)
        writer.close()
        async with asyncio.timeout(10):
            assert [await courier.fate.get() for _ in range(2)] == ["sent b'1'", "unsent b'2'"]
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)


async def test_a_device_past_its_own_connections_is_closed_and_its_open_ones_serve(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, camera = listening
    held = [await raw(listener.port) for _ in range(Caps().per_device)]
    try:
        assert await exchange(listener.port, b"") == b""  # one more: closed, nothing said
        reader, writer = held[0]
        writer.write(b"POST /plate HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        async with asyncio.timeout(10):
            assert (await reader.readuntil(b"\r\n\r\n")).startswith(b"HTTP/1.1 200 OK\r\n")
    finally:
        for _, writer in held:
            writer.close()
    assert [push.body for push in camera.got] == [b"{}"]


async def test_a_head_request_is_answered_without_a_body(
    listening: tuple[PushListener, Camera],
) -> None:
    listener, _ = listening
    reader, writer = await raw(listener.port)
    try:
        writer.write(b"HEAD /plate HTTP/1.1\r\nhost: x\r\n\r\n")
        writer.write(b"POST /plate HTTP/1.1\r\nhost: x\r\ncontent-length: 2\r\n\r\n{}")
        async with asyncio.timeout(10):
            first = await reader.readuntil(b"\r\n\r\n")
            second = await reader.readuntil(b"\r\n\r\n")
            assert await reader.readexactly(11) == b'{"ok":true}'
    finally:
        writer.close()
    assert first.startswith(b"HTTP/1.1 200 OK\r\n") and b"content-length: 11\r\n" in first
    assert second.startswith(b"HTTP/1.1 200 OK\r\n")


class Broken(Camera):
    async def receive(self, push: Push) -> PushReply:
        raise RuntimeError("a bug in the device's code")


async def test_a_device_that_fails_on_a_push_answers_500() -> None:
    listener = PushListener("127.0.0.1", 0)
    listener.add(Broken("127.0.0.1"))
    listener.bind()
    task = asyncio.create_task(listener.run())
    try:
        async with client() as http:
            reply = await http.post(f"http://127.0.0.1:{listener.port}/plate", content=b"{}")
        assert (reply.status_code, reply.content) == (500, b"the lane could not take this\n")
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
