"""Lane leases in Redis (``console.cluster.lease_rules`` says what they mean).

``seat:lanes:lease:{lane}`` holds the holding server's id, with a TTL. Each change is
one Lua script, so a compare and its set are one step for Redis: a server takes a
lease that is free or its own, renews only its own, and deletes only its own. Only
after Redis comes back (perhaps restarted, with no keys) are missing leases written
again (``rewrite``): a renewal that did so would undo a release that reached Redis
first, naming this server for a lane it no longer has.
"""

from __future__ import annotations

from typing import Any

import redis.asyncio as redis

from .lease_rules import LeasePolicy

PREFIX = "seat:lanes:lease:"

# -> {holder, pttl}: the lease is this server's now (holder = ARGV[1]) or another's.
_TAKE = """
local v = redis.call('GET', KEYS[1])
if not v or v == ARGV[1] then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
  return {ARGV[1], tonumber(ARGV[2])}
end
return {v, redis.call('PTTL', KEYS[1])}
"""

# ARGV: this server, ms to live, rewrite missing keys (1) or not (0), the key prefix, the
# lanes' ids separated by single spaces.
# -> {lost, missing}: the indexes (1-based) of the lanes another server holds now (this
# server lost them), and of those no server holds (left unset unless rewritten).
# The keys are read in slices (Lua's unpack takes a few thousand values at most), and
# a lease still this server's has only its expiry moved.
_RENEW = """
local me, ttl, rewrite, prefix = ARGV[1], ARGV[2], ARGV[3] == '1', ARGV[4]
local keys = {}
for lane in string.gmatch(ARGV[5], '[^ ]+') do
  keys[#keys + 1] = prefix .. lane
end
local lost, missing = {}, {}
for first = 1, #keys, 1000 do
  local values = redis.call('MGET', unpack(keys, first, math.min(first + 999, #keys)))
  for j, v in ipairs(values) do
    local i = first + j - 1
    if v == me then
      redis.call('PEXPIRE', keys[i], ttl)
    elseif not v and rewrite then
      redis.call('SET', keys[i], me, 'PX', ttl)
    elseif v then
      lost[#lost + 1] = i
    else
      missing[#missing + 1] = i
    end
  end
end
return {lost, missing}
"""

# -> 1 when the lease was this server's and is deleted.
_RELEASE = """
if redis.call('GET', KEYS[1]) == ARGV[1] then
  return redis.call('DEL', KEYS[1])
end
return 0
"""


def key(lane: str) -> str:
    return PREFIX + lane


class LeaseStore:
    """This server's leases; every method raises ``RedisError`` when Redis cannot be
    reached. ``renewing``: the client the renewals go through (by default ``client``),
    one whose connections nothing else can take up (``RedisLink.reserved``)."""

    def __init__(
        self,
        client: redis.Redis,
        server: str,
        policy: LeasePolicy,
        renewing: redis.Redis | None = None,
    ) -> None:
        self.server = server
        self.policy = policy
        self.client = client
        self._take = client.register_script(_TAKE)
        self._renew = (renewing or client).register_script(_RENEW)
        self._release = client.register_script(_RELEASE)

    async def take(self, lane: str) -> tuple[str, int]:
        """The lane's holder after trying to take it, and its lease's ms to live."""
        holder, pttl = await self._take(keys=[key(lane)], args=[self.server, self.policy.ttl_ms])
        return _text(holder), int(pttl)

    async def renew(
        self, lanes: list[str], *, rewrite: bool = False
    ) -> tuple[list[str], list[str]]:
        """Renew ``lanes`` in one round trip; returns those another server holds now,
        and those no server holds (released meanwhile, or expired), which only
        ``rewrite`` (Redis is back and may have forgotten them) takes again.

        The lanes go as one argument, their ids joined by spaces, not a key each: the
        request for thousands of leases is built in one join rather than thousands of
        encoded arguments. Redis Cluster could not run a script over many lanes' keys
        anyway (they hash to different slots), so nothing is lost by not declaring them."""
        if not lanes:
            return [], []
        names = " ".join(lanes)
        if names.count(" ") != len(lanes) - 1 or "" in lanes:
            raise ValueError("a lane id to renew is empty or has a space")
        lost, missing = await self._renew(
            args=[self.server, self.policy.ttl_ms, int(rewrite), PREFIX, names]
        )
        return [lanes[int(i) - 1] for i in lost], [lanes[int(i) - 1] for i in missing]

    async def release(self, lane: str) -> bool:
        return bool(await self._release(keys=[key(lane)], args=[self.server]))

    async def holders(self, lanes: list[str]) -> dict[str, str | None]:
        """Who holds each lane now (None: nobody)."""
        if not lanes:
            return {}
        values = await self.client.mget([key(lane) for lane in lanes])
        return {
            lane: None if v is None else _text(v) for lane, v in zip(lanes, values, strict=True)
        }


def _text(value: Any) -> str:
    return value.decode() if isinstance(value, bytes) else str(value)
