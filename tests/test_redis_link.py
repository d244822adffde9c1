"""The link every server keeps to Redis: messages between servers, and knowing when
Redis is back after a restart (which forgets every key and subscription)."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator

import pytest
from redis.exceptions import RedisError

from console.cluster.redis_link import RedisLink
from console.settings import Settings
from tests.services import RedisServer


class _Heard:
    def __init__(self) -> None:
        self.messages: asyncio.Queue[bytes] = asyncio.Queue()
        self.ups = 0
        self.up_event = asyncio.Event()

    def message(self, data: bytes) -> None:
        self.messages.put_nowait(data)

    async def up(self) -> None:
        self.ups += 1
        self.up_event.set()

    async def next_up(self) -> None:
        await asyncio.wait_for(self.up_event.wait(), 20)
        self.up_event.clear()


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[RedisLink, RedisLink, _Heard]]:
    """Two servers' links; the second listens to the first on its own channel."""
    sender = RedisLink(redis_server.url)
    receiver = RedisLink(redis_server.url)
    heard = _Heard()
    receiver.subscribe(receiver.channel, heard.message)
    receiver.on_up(heard.up)
    await sender.start()
    await receiver.start()
    await heard.next_up()
    yield sender, receiver, heard
    await sender.close()
    await receiver.close()


async def test_a_server_hears_what_another_sends_to_it(
    pair: tuple[RedisLink, RedisLink, _Heard],
) -> None:
    sender, receiver, heard = pair
    assert sender.server != receiver.server
    assert await sender.publish(receiver.channel, b"open lane-1") == 1
    assert await asyncio.wait_for(heard.messages.get(), 5) == b"open lane-1"
    assert await sender.publish(sender.channel, b"no one") == 1  # its own, unheard here
    assert heard.messages.empty()


async def test_after_redis_restarts_the_link_says_so_and_hears_again(
    pair: tuple[RedisLink, RedisLink, _Heard], redis_server: RedisServer
) -> None:
    sender, receiver, heard = pair
    redis_server.kill()
    with pytest.raises((RedisError, OSError)):
        await sender.client.ping()
    redis_server.start()
    await heard.next_up()
    assert receiver.up
    assert heard.ups == 2
    await sender.client.ping()
    assert await sender.publish(receiver.channel, b"after") == 1
    assert await asyncio.wait_for(heard.messages.get(), 5) == b"after"


async def test_channels_are_fixed_before_the_link_starts(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url)
    await link.start()
    try:
        with pytest.raises(RuntimeError, match="before the link starts"):
            link.subscribe("late", lambda data: None)
    finally:
        await link.close()


async def test_a_handler_that_fails_does_not_deafen_the_others(
    pair: tuple[RedisLink, RedisLink, _Heard], redis_server: RedisServer
) -> None:
    sender, _, _ = pair
    link = RedisLink(redis_server.url)
    heard = _Heard()

    def broken(data: bytes) -> None:
        raise ValueError(data)

    link.subscribe("seat:news", broken)
    link.subscribe("seat:news", heard.message)
    link.on_up(heard.up)
    await link.start()
    try:
        await heard.next_up()
        await sender.publish("seat:news", b"one")
        await sender.publish("seat:news", b"two")
        assert await asyncio.wait_for(heard.messages.get(), 5) == b"one"
        assert await asyncio.wait_for(heard.messages.get(), 5) == b"two"
    finally:
        await link.close()


async def test_an_up_listener_that_fails_or_is_slow_does_not_deafen_the_link(
    pair: tuple[RedisLink, RedisLink, _Heard], redis_server: RedisServer
) -> None:
    """One listener raises, another waits on a store that does not answer: the link
    hears the other servers meanwhile, and both run again after Redis restarts."""
    sender, _, _ = pair
    link = RedisLink(redis_server.url)
    heard = _Heard()
    store_answers = asyncio.Event()
    runs = {"broken": 0, "slow": 0}
    slow_ran = asyncio.Event()

    async def broken() -> None:
        runs["broken"] += 1
        raise KeyError("P1-OUT")

    async def slow() -> None:
        runs["slow"] += 1
        slow_ran.set()
        await store_answers.wait()

    link.subscribe("seat:news", heard.message)
    link.on_up(broken)
    link.on_up(slow)
    link.on_up(heard.up)
    await link.start()
    try:
        await heard.next_up()
        await sender.publish("seat:news", b"while the store is slow")
        assert await asyncio.wait_for(heard.messages.get(), 5) == b"while the store is slow"
        await link.check()
        redis_server.kill()
        redis_server.start()
        await heard.next_up()
        await sender.publish("seat:news", b"after")
        assert await asyncio.wait_for(heard.messages.get(), 5) == b"after"
        assert runs == {"broken": 2, "slow": 1}  # the second run waits for the first
        slow_ran.clear()
        store_answers.set()
        await asyncio.wait_for(slow_ran.wait(), 5)
        assert runs["slow"] == 2
    finally:
        await link.close()


async def test_a_link_whose_reader_stopped_is_not_up(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url)
    never = asyncio.Event()

    async def waits() -> None:
        await never.wait()

    link.on_up(waits)
    await link.start()
    await asyncio.wait_for(link.wait_up(), 10)
    await link.close()  # cancels the reader and the listener still running
    assert not link.up


@pytest.mark.parametrize(
    "raw",
    [
        "redis://127.0.0.1:6379/0",
        "rediss://:s3cret@redis.example.com:6380/2",
        "unix:///run/redis/redis.sock?db=1",
    ],
)
def test_redis_urls_a_centre_accepts(raw: str) -> None:
    assert Settings.from_env({"SEAT_REDIS_URL": raw}).redis_url == raw


@pytest.mark.parametrize(
    "raw", ["http://127.0.0.1:6379", "redis://", "127.0.0.1:6379", "redis://host\n:1", "unix://"]
)
def test_a_redis_url_that_is_not_one_stops_the_start(raw: str) -> None:
    with pytest.raises(ValueError, match="SEAT_REDIS_URL") as refused:
        Settings.from_env({"SEAT_REDIS_URL": raw + ":s3cret"})
    assert "s3cret" not in str(refused.value)  # a password is never echoed


def test_the_password_in_a_redis_url_is_not_in_the_settings_repr() -> None:
    settings = Settings.from_env({"SEAT_REDIS_URL": "redis://:s3cret@h:1/0"})
    assert "s3cret" not in repr(settings)


def test_a_server_is_named_for_its_host_unless_told() -> None:
    assert Settings.from_env({}).server_name == socket.gethostname()
    assert Settings.from_env({"SEAT_SERVER_NAME": "seat-2:8080"}).server_name == "seat-2:8080"


@pytest.mark.parametrize("raw", ["a b", "x" * 65, "名字", "a/b", "a\nb"])
def test_a_server_name_that_is_not_a_plain_word_stops_the_start(raw: str) -> None:
    with pytest.raises(ValueError, match="SEAT_SERVER_NAME"):
        Settings.from_env({"SEAT_SERVER_NAME": raw})
