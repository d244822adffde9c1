"""The lane's HTTP server for camera pushes, over real sockets: only the lane's devices
get in, only up to the limit, and each push reaches its device whole."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator

import httpx
import pytest

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


def test_two_devices_cannot_push_from_one_address() -> None:
    listener = PushListener("127.0.0.1", 0)
    listener.add(Camera("10.0.0.5"))
    with pytest.raises(ValueError, match=r"10\.0\.0\.5"):
        listener.add(Camera("10.0.0.5"))
