"""Which agents have a console tab open, on this server and on the others of the centre.

An agent is online while a tab of theirs is open on ANY live server. Each server counts
its own tabs (``Tabs``) and, with Redis, mirrors the counts into a hash of its own
(``SharedTabs``). Whether a server is alive is not the hash's to say but the centre's
one presence of servers (``console.cluster.servers``): the tabs of a server that died,
or was cut from Redis for longer than its presence lives, stop counting then, and the
servers left disconnect their agents; its tabs count again from its next round, and it
logs its agents in again when its link is back (``CallService``).
"""

from __future__ import annotations

import asyncio
from collections import Counter
from collections.abc import Collection

from console.cluster.redis_link import RedisLink
from console.cluster.servers import Servers


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

    def __init__(self, link: RedisLink, tabs: Tabs, servers: Servers) -> None:
        self.link = link
        self.tabs = tabs
        self.servers = servers
        self._key = tabs_key(link.server)
        # Writes one at a time: each writes the counts as they are when it runs, so an
        # older count never lands after a newer one.
        self._writing = asyncio.Lock()

    async def mirror(self, name: str) -> None:
        """Write the user's count here as it is now."""
        async with self._writing:
            count = self.tabs.count(name)
            async with self.link.client.pipeline(transaction=True) as pipe:
                if count:
                    pipe.hset(self._key, name, count)
                    # A dead server's hash goes once no one can count it.
                    pipe.pexpire(self._key, self.servers.ttl_ms)
                else:
                    pipe.hdel(self._key, name)
                await pipe.execute()

    async def renew(self) -> None:
        """Write every count again (Redis may have restarted empty)."""
        async with self._writing:
            counts = self.tabs.counts()
            async with self.link.client.pipeline(transaction=True) as pipe:
                pipe.delete(self._key)
                if counts:
                    pipe.hset(self._key, mapping=counts)  # type: ignore[arg-type]  # redis-py's own
                    pipe.pexpire(self._key, self.servers.ttl_ms)
                await pipe.execute()

    async def elsewhere(self, names: Collection[str] | None = None) -> set[str]:
        """Those of ``names`` (None: every user) with a tab open on another live server."""
        others = sorted(
            server for server in await self.servers.live() if server != self.link.server
        )
        if not others:
            return set()
        async with self.link.client.pipeline(transaction=False) as pipe:
            for server in others:
                pipe.hkeys(tabs_key(server))
            answers = await pipe.execute()
        present = {_text(key) for keys in answers for key in keys}
        return present if names is None else present & set(names)

    async def leave(self) -> None:
        """This server stops: its tabs are gone at once."""
        async with self._writing:
            await self.link.client.delete(self._key)


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
