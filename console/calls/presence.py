"""Which agents have a console tab open, on this server and on the others of the centre.

An agent is online while a tab of theirs is open on ANY server. Each server counts its
own tabs (``Tabs``) and, with Redis, mirrors the counts into a hash of its own
(``SharedTabs``) that lives ``ttl_s`` past its last renewal: a server that dies takes
its tabs with it once its hash expires, and the servers left disconnect their agents.
A server alive but cut from Redis for longer than that counts as dead too: its tabs
come back with its next renewal, but the disconnects made meanwhile stand.
"""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import Collection

from console.cluster.redis_link import RedisLink

log = logging.getLogger("seat.calls")

# Every server of the centre that has mirrored its tabs; the dead are pruned as found.
SERVERS = "seat:calls:servers"


def tabs_key(server: str) -> str:
    return f"seat:calls:tabs:{server}"


class Tabs:
    """This server's open console tabs, by user."""

    def __init__(self) -> None:
        self._open: Counter[str] = Counter()

    def opened(self, name: str) -> bool:
        """True for the user's first tab here."""
        self._open[name] += 1
        return self._open[name] == 1

    def closed(self, name: str) -> bool:
        """True for the user's last tab here."""
        self._open[name] -= 1
        if self._open[name] > 0:
            return False
        del self._open[name]
        return True

    def count(self, name: str) -> int:
        return self._open[name]

    def __contains__(self, name: object) -> bool:
        return name in self._open

    def counts(self) -> dict[str, int]:
        return dict(self._open)


class SharedTabs:
    """The counts of ``tabs`` in Redis, for the other servers to see. Every method may
    raise ``RedisError``."""

    def __init__(self, link: RedisLink, tabs: Tabs, ttl_s: float) -> None:
        self.link = link
        self.tabs = tabs
        self.ttl_ms = max(1, round(ttl_s * 1000))
        self._key = tabs_key(link.server)
        # Writes one at a time: each writes the counts as they are when it runs, so an
        # older count never lands after a newer one.
        self._writing = asyncio.Lock()

    async def mirror(self, name: str) -> None:
        """Write the user's count here as it is now, and keep the hash alive. A server
        without a tab has no hash, and is not in the list of servers."""
        async with self._writing:
            count = self.tabs.count(name)
            async with self.link.client.pipeline(transaction=True) as pipe:
                if count:
                    pipe.hset(self._key, name, count)
                    pipe.pexpire(self._key, self.ttl_ms)
                    pipe.sadd(SERVERS, self.link.server)
                else:
                    pipe.hdel(self._key, name)
                    if not self.tabs.counts():
                        pipe.srem(SERVERS, self.link.server)
                await pipe.execute()

    async def renew(self) -> None:
        """Write every count again (Redis may have restarted empty) and keep the hash
        alive for ``ttl_s`` more."""
        async with self._writing:
            counts = self.tabs.counts()
            async with self.link.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key)
                if counts:
                    pipe.hset(self._key, mapping=counts)  # type: ignore[arg-type]  # redis-py's own
                    pipe.pexpire(self._key, self.ttl_ms)
                    pipe.sadd(SERVERS, self.link.server)
                else:
                    pipe.srem(SERVERS, self.link.server)
                await pipe.execute()

    async def elsewhere(self, names: Collection[str] | None = None) -> set[str]:
        """Those of ``names`` (None: every user) with a tab open on another live server.
        A server whose hash expired is dead: it leaves the list of servers."""
        servers = sorted(map(_text, await self.link.client.smembers(SERVERS)))
        others = [server for server in servers if server != self.link.server]
        if not others:
            return set()
        async with self.link.client.pipeline(transaction=False) as pipe:
            for server in others:
                pipe.exists(tabs_key(server))
                pipe.hkeys(tabs_key(server))
            answers = await pipe.execute()
        present: set[str] = set()
        dead: list[str] = []
        for server, alive, keys in zip(others, answers[::2], answers[1::2], strict=True):
            if alive:
                present.update(map(_text, keys))
            else:
                dead.append(server)
        if dead:
            await self._prune(dead)
        return present if names is None else present & set(names)

    async def _prune(self, dead: list[str]) -> None:
        """Forget servers whose hash expired, unless one wrote again meanwhile (a
        server alive whose renewal came late): the check and the removal in one step."""
        for server in dead:
            removed = await self.link.client.eval(_PRUNE, 2, tabs_key(server), SERVERS, server)
            if removed:
                log.warning("calls.server.gone server=%s", server)

    async def leave(self) -> None:
        """This server stops: its tabs are gone at once, not after ``ttl_s``."""
        async with self._writing, self.link.client.pipeline(transaction=True) as pipe:
            pipe.delete(self._key)
            pipe.srem(SERVERS, self.link.server)
            await pipe.execute()


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value


# KEYS[1]: the server's hash, KEYS[2]: the servers; ARGV[1]: the server.
_PRUNE = """
if redis.call('EXISTS', KEYS[1]) == 1 then return 0 end
return redis.call('SREM', KEYS[2], ARGV[1])
"""
