"""The login throttle's counts in Redis, shared by the servers of one centre: a guesser
spread over every server is counted as one.

The rules are ``console.throttle``'s, asked here as one server asks them of its
memory; Redis keeps the counts, each step one Lua script, so a storm of attempts from
every server at once is counted exactly, on one clock (Redis's). Under
``seat:throttle:`` are the failures and the last one's time of each pair, account and
address (hashes that expire ``forget_s`` after their last failure), and each pair's
checks in flight (a sorted set of attempts, each dropped once settled or after
``HOLD_S``, so a server that dies mid-check does not lock a pair out).

The rules first see the counts as they are (one round trip): under a storm most
attempts are turned away there. An attempt they let through then joins its pair's
checks in flight and the rules see the counts again, the attempts that joined before
it counted: two attempts at once on two servers cannot both take the last free check.
One turned away at that second look leaves them at once.

Each step is sent as redis-py sends any command of ``RedisLink``'s client: once more
on a fresh connection when its pooled one had died (Redis restarted since), and no
more. That is safe for every step here: a look changes nothing, and joining, leaving
and starting afresh are the same done twice. Only a failure's count is not: when the
connection dies after Redis counted it but before its reply came, the resent step
counts it again. Counted twice at worst, never missed: a guesser gains nothing by it,
and an agent is locked out one failure early at worst.

When Redis cannot be reached, no login is checked (503 ``throttle_unavailable``):
counts that one server kept alone while Redis is out would hand a guesser a fresh
allowance on each server. Agents logged in stay logged in; only new logins wait.
"""

from __future__ import annotations

import logging
import secrets

from redis.commands.core import AsyncScript
from redis.exceptions import RedisError

from ..errors import Busy
from ..throttle import Admission, Alarm, Kept, ThrottleRules
from .redis_link import RedisLink

log = logging.getLogger("seat.auth")

PREFIX = "seat:throttle:"
# Longer than any password check, its wait in the queue included: an attempt whose
# server died mid-check stops counting as in flight after this long.
HOLD_S = 30
RETRY_AFTER_S = 5

# KEYS: pair, checking, user, address. ARGV: ticket, hold seconds, join (1) or only
# look (0). Returns now, the checks in flight before this one, then each hash's
# failures and last failure's time (false where it has none).
_ADMIT = """
local t = redis.call('TIME')
local now = tonumber(t[1]) + tonumber(t[2]) / 1000000
redis.call('ZREMRANGEBYSCORE', KEYS[2], '-inf', now)
local before = redis.call('ZCARD', KEYS[2])
if ARGV[3] == '1' then
  redis.call('ZADD', KEYS[2], now + tonumber(ARGV[2]), ARGV[1])
  redis.call('EXPIRE', KEYS[2], ARGV[2])
end
local reply = {tostring(now), before}
for i = 1, 4 do
  if i ~= 2 then
    local counts = redis.call('HMGET', KEYS[i], 'failures', 'last_failed')
    reply[#reply + 1] = counts[1]
    reply[#reply + 1] = counts[2]
  end
end
return reply
"""

# KEYS: pair, checking, user, address. ARGV: ticket, forget seconds.
# Returns the account's and the address's failures, this one counted.
_FAILED = """
local t = redis.call('TIME')
local now = tostring(tonumber(t[1]) + tonumber(t[2]) / 1000000)
redis.call('ZREM', KEYS[2], ARGV[1])
local failures = {}
for i = 1, 4 do
  if i ~= 2 then
    failures[#failures + 1] = redis.call('HINCRBY', KEYS[i], 'failures', 1)
    redis.call('HSET', KEYS[i], 'last_failed', now)
    redis.call('EXPIRE', KEYS[i], ARGV[2])
  end
end
return {failures[2], failures[3]}
"""


def keys(username: str, address: str) -> list[str]:
    """A username has no ``|`` (``auth.valid_username``); an address may be anything."""
    pair = f"{username}|{address}"
    return [
        f"{PREFIX}pair:{pair}",
        f"{PREFIX}checking:{pair}",
        f"{PREFIX}user:{username}",
        f"{PREFIX}address:{address}",
    ]


def _kept(failures: bytes | None, last_failed: bytes | None) -> Kept | None:
    if failures is None:
        return None
    return Kept(int(failures), float(last_failed or 0.0))


class RedisThrottle:
    def __init__(self, link: RedisLink, rules: ThrottleRules | None = None) -> None:
        self.link = link
        self.rules = rules or ThrottleRules()
        self._admit: AsyncScript = link.client.register_script(_ADMIT)
        self._failed: AsyncScript = link.client.register_script(_FAILED)

    async def admit(self, username: str, address: str) -> Admission:
        ticket = secrets.token_hex(8)
        names = keys(username, address)
        try:
            wait = await self._wait(names, ticket, join=False)
            if wait == 0:
                wait = await self._wait(names, ticket, join=True)
                if wait > 0:
                    await self.link.client.zrem(names[1], ticket)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        return Admission(username, address, wait, ticket)

    async def _wait(self, names: list[str], ticket: str, *, join: bool) -> float:
        args: list[str | int] = [ticket, HOLD_S, int(join)]
        reply = await self._admit(keys=names, args=args)
        now, before = float(reply[0]), int(reply[1])
        pair, user, where = (_kept(reply[i], reply[i + 1]) for i in (2, 4, 6))
        return self.rules.wait(pair, before, user, where, now)

    async def failed(self, attempt: Admission) -> list[Alarm]:
        try:
            names = keys(attempt.username, attempt.address)
            args: list[str | int] = [attempt.ticket, self._forget_s]
            reply = await self._failed(keys=names, args=args)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None
        user_failures, address_failures = int(reply[0]), int(reply[1])
        return self.rules.alarms(attempt.username, attempt.address, user_failures, address_failures)

    async def succeeded(self, attempt: Admission) -> None:
        """The pair starts afresh; its account's and address's counts stay."""
        names = keys(attempt.username, attempt.address)
        try:
            await self._start_afresh(names, attempt.ticket)
        except (RedisError, OSError) as exc:
            raise _unavailable(exc) from None

    async def abandoned(self, attempt: Admission) -> None:
        """Called as the attempt fails for another reason, which must not be hidden:
        Redis out of reach is logged, and the attempt stops counting after HOLD_S."""
        try:
            await self.link.client.zrem(keys(attempt.username, attempt.address)[1], attempt.ticket)
        except (RedisError, OSError) as exc:
            log.warning("auth.throttle.unsettled username=%s error=%r", attempt.username, exc)

    async def _start_afresh(self, names: list[str], ticket: str) -> None:
        async with self.link.client.pipeline(transaction=True) as step:
            step.zrem(names[1], ticket)
            step.delete(names[0])
            await step.execute()

    @property
    def _forget_s(self) -> int:
        return max(1, round(self.rules.forget_s))


def _unavailable(exc: RedisError | OSError) -> Busy:
    log.error("auth.throttle.unavailable error=%r", exc)
    return Busy(
        "throttle_unavailable",
        "logins cannot be checked now; try again shortly",
        retry_after=RETRY_AFTER_S,
    )
