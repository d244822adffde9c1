"""The login throttle of a centre of two servers: its counts are shared in Redis, so a
guesser spread over both is counted as one, and with Redis out of reach no password
is checked at all."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from redis.typing import ZSetRangeResponse

from console.cluster.redis_link import RedisLink
from console.cluster.throttle import HOLD_S, RedisThrottle, keys
from console.errors import Busy
from console.ledger import AuditAction
from console.models import Role
from console.throttle import IN_FLIGHT_WAIT_S
from tests.conftest import PASSWORD, Centre
from tests.services import RedisServer
from tests.test_login import client_from, ledger, login


@pytest.fixture
async def servers(cluster: list[Centre]) -> tuple[Centre, Centre]:
    async with asyncio.timeout(10):
        for centre in cluster:
            assert centre.redis is not None
            await centre.redis.wait_up()
    first, second = cluster
    await first.add_user("alice", Role.AGENT)
    return first, second


async def test_a_lock_earned_on_one_server_holds_on_the_other(
    servers: tuple[Centre, Centre],
) -> None:
    first, second = servers
    async with client_from(first, "127.0.0.2") as guesser:
        for _ in range(5):
            assert (await login(guesser, "alice", "wrong guess")).status_code == 401
    async with client_from(second, "127.0.0.2") as guesser:
        refused = await login(guesser, "alice", PASSWORD)
    async with client_from(second, "127.0.0.3") as owner:
        elsewhere = await login(owner, "alice", PASSWORD)
    assert refused.status_code == 429 and refused.json()["error"] == "throttled"
    assert 1 <= refused.json()["retry_after"] <= 30
    assert elsewhere.status_code == 200


async def test_guesses_sent_at_once_to_both_servers_get_no_more_checks_than_serial_ones(
    servers: tuple[Centre, Centre],
) -> None:
    """Sixteen wrong passwords for one account from one address, half to each server
    at once: five are checked, the rest throttled without a check."""
    first, second = servers
    async with first.client() as one, second.client() as two:
        guesses = [login(client, "alice", "wrong") for client in (one, two) for _ in range(8)]
        responses = await asyncio.gather(*guesses)
    assert sorted(r.status_code for r in responses) == [401] * 5 + [429] * 11
    assert len(await ledger(first, AuditAction.LOGIN_FAILED)) == 5


async def test_an_attack_alarm_counts_failures_on_both_servers(
    servers: tuple[Centre, Centre],
) -> None:
    first, second = servers
    for centre, source in ((first, "127.0.0.2"), (second, "127.0.0.3")):
        async with client_from(centre, source) as guesser:
            for _ in range(5):
                assert (await login(guesser, "alice", "wrong guess")).status_code == 401
    [attack] = await ledger(first, AuditAction.LOGIN_ATTACK)
    assert attack.detail["user_failures"] == 10 and attack.detail["remote"] == "127.0.0.3"


async def test_with_redis_out_of_reach_no_password_is_checked(
    servers: tuple[Centre, Centre], redis_server: RedisServer
) -> None:
    first, _ = servers
    redis_server.kill()
    async with first.client() as client:
        refused = await login(client, "alice", PASSWORD)
        assert refused.status_code == 503
        assert refused.json()["error"] == "throttle_unavailable"
        assert int(refused.headers["retry-after"]) >= 1
        assert await ledger(first, AuditAction.LOGIN) == []
        redis_server.start()
        assert (await login(client, "alice", PASSWORD)).status_code == 200


async def test_an_attempt_whose_server_died_stops_counting_as_in_flight(
    redis_server: RedisServer,
) -> None:
    """A check in flight that is never settled holds its pair for HOLD_S, no longer:
    the reservation's expiry is Redis's own, moved past here by rewriting its score."""
    link = RedisLink(redis_server.url)
    try:
        throttle = RedisThrottle(link)
        stuck = [await throttle.admit("alice", "10.0.0.9") for _ in range(5)]
        assert [a.wait for a in stuck] == [0.0] * 5
        assert (await throttle.admit("alice", "10.0.0.9")).wait == IN_FLIGHT_WAIT_S
        checking = keys("alice", "10.0.0.9")[1]
        scores = scored(await link.client.zrange(checking, 0, -1, withscores=True))
        assert len(scores) == 5 and all(s > HOLD_S for s in scores.values())
        await link.client.zadd(checking, dict.fromkeys(scores, 1.0))  # long ago
        assert (await throttle.admit("alice", "10.0.0.9")).wait == 0.0
    finally:
        await link.close()


async def test_one_server_keeps_its_counts_in_memory(staffed: Centre) -> None:
    """No SEAT_REDIS_URL: the same rules, counted by the one server."""
    async with httpx.AsyncClient(base_url=staffed.url) as client:
        for _ in range(5):
            assert (await login(client, "alice", "wrong")).status_code == 401
        assert (await login(client, "alice", PASSWORD)).status_code == 429


def scored(members: ZSetRangeResponse) -> dict[bytes, float]:
    """A sorted set read ``withscores``: each member's score."""
    scores: dict[bytes, float] = {}
    for pair in members:
        assert isinstance(pair, tuple | list) and len(pair) == 2, pair
        member, score = pair
        assert isinstance(member, bytes) and isinstance(score, float), pair
        scores[member] = score
    return scores


async def test_a_step_whose_reply_is_lost_is_sent_once_more_and_no_more() -> None:
    """A Redis that takes each command and dies before answering (the connection drops
    mid-reply): every step is sent twice at most, so a failure is counted twice at
    worst, and the login is refused as unavailable."""
    sent: list[bytes] = []

    async def dying_redis(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        while data := await reader.read(65536):
            if b"EVAL" in data.upper():
                sent.append(data)
                break
            writer.write(b"+OK\r\n" * max(1, data.upper().count(b"SETINFO")))
            await writer.drain()
        writer.close()

    server = await asyncio.start_server(dying_redis, "127.0.0.1", 0)
    port: int = server.sockets[0].getsockname()[1]
    link = RedisLink(f"redis://127.0.0.1:{port}/0")
    try:
        with pytest.raises(Busy) as refused:
            await RedisThrottle(link).admit("alice", "192.0.2.7")
        assert refused.value.code == "throttle_unavailable"
        assert len(sent) == 2
    finally:
        await link.client.aclose()
        server.close()
        await server.wait_closed()
