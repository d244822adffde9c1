"""One server asks another over Redis and waits for its answer; a server gone, slow,
refusing or sent garbage gives a clear error and breaks nothing."""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator

import pytest

from console.cluster.envelope import MAX_BYTES
from console.cluster.redis_link import RedisLink, server_channel
from console.cluster.request_wire import Reply
from console.cluster.requests import (
    Body,
    PeerError,
    PeerGone,
    PeerTimeout,
    Refusal,
    Requests,
    Unheld,
)
from tests.services import RedisServer


@pytest.fixture
async def pair(redis_server: RedisServer) -> AsyncIterator[tuple[Requests, Requests]]:
    """The asker's and the answerer's requests, each on a link of its own."""
    links = [RedisLink(redis_server.url) for _ in range(2)]
    requests = [Requests(link) for link in links]
    hold = asyncio.Event()

    async def double(body: Body) -> Body:
        return {"twice": body["n"] * 2}

    async def refuse(body: Body) -> Body:
        raise Refusal("intercom_busy", "alice has it", holder="alice")

    async def crash(body: Body) -> Body:
        raise ZeroDivisionError("boom")

    async def huge(body: Body) -> Body:
        return {"jpeg": "A" * MAX_BYTES}

    async def hang(body: Body) -> Body:
        await hold.wait()
        return {}

    for op, answerer in (
        ("double", double),
        ("refuse", refuse),
        ("crash", crash),
        ("hang", hang),
        ("huge", huge),
    ):
        requests[1].answer(op, answerer)
    for link in links:
        await link.start()
    async with asyncio.timeout(10):
        await asyncio.gather(*(link.wait_up() for link in links))
    yield requests[0], requests[1]
    hold.set()
    for each, link in zip(requests, links, strict=True):
        await each.close()
        await link.close()


async def test_a_server_answers_anothers_request(pair: tuple[Requests, Requests]) -> None:
    asker, answerer = pair
    assert await asker.ask(answerer.link.server, "double", {"n": 21}, 5) == {"twice": 42}


async def test_a_refusal_comes_back_with_its_code_and_details(
    pair: tuple[Requests, Requests],
) -> None:
    asker, answerer = pair
    with pytest.raises(PeerError) as refused:
        await asker.ask(answerer.link.server, "refuse", {}, 5)
    assert (refused.value.code, refused.value.detail) == ("intercom_busy", "alice has it")
    assert refused.value.extra == {"holder": "alice"}
    with pytest.raises(PeerError) as crashed:
        await asker.ask(answerer.link.server, "crash", {}, 5)
    assert crashed.value.code == "failed" and "boom" in crashed.value.detail
    with pytest.raises(PeerError) as unknown:
        await asker.ask(answerer.link.server, "no-such-op", {}, 5)
    assert unknown.value.code == "bad_request"
    with pytest.raises(PeerError) as too_large:
        await asker.ask(answerer.link.server, "huge", {}, 5)
    assert too_large.value.code == "failed" and "bytes, more than" in too_large.value.detail


async def test_a_server_that_is_not_listening_is_known_gone_at_once(
    pair: tuple[Requests, Requests],
) -> None:
    asker, _ = pair
    with pytest.raises(PeerGone):
        await asker.ask("server-that-stopped", "double", {"n": 1}, 30)


async def test_a_server_that_does_not_answer_in_time_is_a_timeout(
    pair: tuple[Requests, Requests],
) -> None:
    asker, answerer = pair
    with pytest.raises(PeerTimeout, match="did not answer hang"):
        await asker.ask(answerer.link.server, "hang", {}, 0.3)


async def test_garbage_on_a_servers_channel_is_refused_and_it_still_answers(
    pair: tuple[Requests, Requests], caplog: pytest.LogCaptureFixture
) -> None:
    asker, answerer = pair
    channel = server_channel(answerer.link.server)
    request = {"id": "r1", "op": "double", "args": {"n": 1}}
    garbage = [
        b"\xff",
        b"[1]",
        b'{"kind": 5}',
        json.dumps({"v": 1, "kind": "unknown", "from": "x", "body": {}}).encode(),
        json.dumps({"v": 2, "kind": "request", "from": "x", "body": request}).encode(),
        json.dumps({"v": 1, "kind": "request", "from": "x", "body": request | {"id": 7}}).encode(),
        json.dumps(
            {"v": 1, "kind": "request", "from": "x", "body": request | {"args": 1}}
        ).encode(),
        json.dumps({"v": 1, "kind": "request", "from": "x\u0000", "body": request}).encode(),
    ]
    with caplog.at_level(logging.WARNING, "seat.cluster"):
        for data in garbage:
            assert await asker.link.publish(channel, data) == 1
        # A reply no one waits for is dropped too.
        await asker.link.send(asker.link.server, Reply("never-asked", {}))
        assert await asker.ask(answerer.link.server, "double", {"n": 2}, 5) == {"twice": 4}
    refused = [r.getMessage() for r in caplog.records if "redis.message_refused" in r.getMessage()]
    assert len(refused) == len(garbage)
    assert "version 2 is newer than this server's 1" in refused[4]
    assert "request: 'id' is not an id" in refused[5]
    assert "NUL" in refused[7]


async def test_a_kind_has_one_handler(redis_server: RedisServer) -> None:
    link = RedisLink(redis_server.url)
    Requests(link)
    with pytest.raises(RuntimeError, match="request"):
        Requests(link)
    await link.close()


async def test_the_server_a_key_names_is_found_and_asked_in_one_step(
    pair: tuple[Requests, Requests],
) -> None:
    asker, answerer = pair
    client = asker.link.client
    await client.set("seat:lanes:lease:L1", answerer.link.server)
    assert await asker.ask_holder("seat:lanes:lease:L1", "double", {"n": 4}, 5) == {"twice": 8}
    with pytest.raises(Unheld) as nobody:
        await asker.ask_holder("seat:lanes:lease:L2", "double", {"n": 4}, 5)
    assert nobody.value.server is None
    await client.set("seat:lanes:lease:L3", asker.link.server)
    with pytest.raises(Unheld) as itself:
        await asker.ask_holder("seat:lanes:lease:L3", "double", {"n": 4}, 5)
    assert itself.value.server == asker.link.server
    await client.set("seat:lanes:lease:L4", "server-that-died")
    with pytest.raises(PeerGone, match="server-that-died"):
        await asker.ask_holder("seat:lanes:lease:L4", "double", {"n": 4}, 5)
