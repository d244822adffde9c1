"""Which servers of the centre are alive: the one answer every part that needs it
reads (the lanes' leases, the console tabs that keep agents online, the requests a dead
server left open).

Each server runs ONE round, every ``period_s``: it writes its presence key
``seat:servers:alive:{server}`` with a life of ``ttl_s``, and its entry in the hash
``seat:servers`` (its name, ``SEAT_SERVER_NAME``, and the ledger entry of its start),
then runs the round's parts (the renewal of its lane leases, ``RoundPart``), then its
listeners. A server is alive while its key is; once it has lapsed (the server died,
stopped, or was cut off from Redis for longer than ``ttl_s``), the next round of any
server that finds it removes its entry in one step with the check, so exactly one
server learns that it has gone (``on_gone``) and acts for it. A server cut off and
back writes its entry again at its next round: it is alive again, and, if it dies
later, it is found gone again.

The round's Redis work runs in a task of its own, waited for at most until the first
part's deadline (a lease about to fall due): a Redis that went silent, or a redis-py
call that does not end when cancelled, never delays the fencing that follows each
round (``RoundPart.settle``). While such a round is still stuck, the next runs no Redis
work of its own.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, ClassVar, Protocol, Self

from redis.exceptions import RedisError

from . import listeners
from .bounded import bounded, cancel_all
from .envelope import EnvelopeError, Fields, open_as, seal
from .redis_link import RedisLink

log = logging.getLogger("seat.cluster")

REGISTRY = "seat:servers"
ALIVE_PREFIX = "seat:servers:alive:"


def alive_key(server: str) -> str:
    return ALIVE_PREFIX + server


# KEYS[1]: the registry; ARGV[1]: the presence keys' prefix. -> {server, entry, ...} of
# each registered server whose key has lapsed, removed from the registry as found: a
# server learns of a death only if its own call removed the entry.
_GONE = """
local gone = {}
local entries = redis.call('HGETALL', KEYS[1])
for i = 1, #entries, 2 do
  if redis.call('EXISTS', ARGV[1] .. entries[i]) == 0 then
    redis.call('HDEL', KEYS[1], entries[i])
    table.insert(gone, entries[i])
    table.insert(gone, entries[i + 1])
  end
end
return gone
"""


@dataclass(frozen=True, slots=True)
class ServerInfo:
    """``server``: the run's id (``redis_link.server_id``, new at each start); ``name``:
    ``SEAT_SERVER_NAME``, the same across restarts; ``started``: the seq of its start's
    entry in the ledger (None: not known)."""

    server: str
    name: str
    started: int | None

    def encode(self) -> bytes:
        """The entry as ``seat:servers`` keeps it: a ``server`` message from the server."""
        return seal(self.server, _Entry(self.name, self.started))

    @classmethod
    def decode(cls, server: str, raw: bytes | str) -> ServerInfo:
        """Raises ``EnvelopeError`` (a ``ValueError``) for an entry this code did not
        write, or that another server wrote under this one's field."""
        envelope = open_as(raw, _Entry)
        if envelope.sender != server:
            raise EnvelopeError(f"server {server}'s entry was written by {envelope.sender}")
        return cls(server, envelope.body.name, envelope.body.started)


@dataclass(frozen=True, slots=True)
class _Entry:
    KIND: ClassVar[str] = "server"

    name: str
    started: int | None

    def to_json(self) -> dict[str, Any]:
        return {"name": self.name, "started": self.started}

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        return cls(fields.text("name"), fields.optional_integer("started"))


class RoundPart(Protocol):
    """What renews with the server's presence, in the same round."""

    def deadline(self) -> float | None:
        """The loop time by which a round must have reached Redis (None: no such)."""
        ...

    async def renew(self) -> None:
        """Its writes in the round; raises ``RedisError``."""
        ...

    async def settle(self, now: float) -> None:
        """After every round, whether it reached Redis or not (fencing)."""
        ...


GoneListener = Callable[[ServerInfo], Awaitable[None]]


class Servers:
    """Owned by the app: ``start`` once the ledger has the server's start, ``close``
    at shutdown, before the link closes."""

    def __init__(
        self, link: RedisLink, name: str, ttl_s: float, period_s: float | None = None
    ) -> None:
        """``ttl_s``: how long the server counts as alive past its last round; the
        round runs every ``period_s`` (at most a third of ``ttl_s``): two rounds may
        fail in a row before the others take it for gone."""
        if not ttl_s > 0:
            raise ValueError(f"a server's presence must live more than 0 s, not {ttl_s!r}")
        self.link = link
        self.server = link.server
        self.name = name
        self.ttl_s = ttl_s
        self.period_s = min(ttl_s / 3, period_s if period_s is not None else ttl_s)
        self.started: int | None = None
        self._parts: list[RoundPart] = []
        self._round_listeners: list[listeners.Listener] = []
        self._gone_listeners: list[GoneListener] = []
        self._gone_tasks: set[asyncio.Task[None]] = set()
        self._rounds: asyncio.Task[None] | None = None
        self._redis_work: asyncio.Task[None] | None = None
        self._listening: asyncio.Task[None] | None = None
        # The rounds end on this too, should redis-py swallow their cancel: a round
        # after close would write the presence of a server that has stopped.
        self._closing = False
        self._gone_script = link.reserved.register_script(_GONE)  # part of the round

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl_s * 1000))

    def add_part(self, part: RoundPart) -> None:
        self._parts.append(part)

    def after_each_round(self, listener: listeners.Listener) -> None:
        """``listener()`` after each round that reached Redis, in a task beside the
        rounds: a listener slow on a busy Redis never holds up the next round, and with
        it fencing. One run of the listeners at a time: a round's is skipped while the
        last one's still runs, so what one read of Redis found is never applied after
        what a later read found. A failure is logged and the rounds go on."""
        self._round_listeners.append(listener)

    def on_gone(self, listener: GoneListener) -> None:
        """``listener(info)`` in a task of its own when this server is the one that
        found ``info``'s server gone; its failure is logged."""
        self._gone_listeners.append(listener)

    # ----------------------------------------------------------------- queries

    async def live(self) -> dict[str, ServerInfo]:
        """Every server alive now, this one included (if its key is in Redis), by id.
        Raises ``RedisError``."""
        entries = await self.link.client.hgetall(REGISTRY)
        servers = sorted(_text(server) for server in entries)
        if not servers:
            return {}
        async with self.link.client.pipeline(transaction=False) as pipe:
            for server in servers:
                pipe.exists(alive_key(server))
            alive = await pipe.execute()
        found: dict[str, ServerInfo] = {}
        for server, up in zip(servers, alive, strict=True):
            if not up:
                continue
            try:
                found[server] = ServerInfo.decode(server, entries[server.encode()])
            except ValueError as exc:
                log.warning("cluster.server.malformed server=%s error=%r", server, exc)
        return found

    # ----------------------------------------------------------------- life

    async def start(self, started: int | None) -> None:
        """``started``: the seq of this server's start in the ledger."""
        self.started = started
        self._rounds = asyncio.create_task(self._run(), name="seat-cluster-rounds")

    async def close(self, wait_s: float) -> None:
        """Stop the rounds, and take this server's key away: the others find it gone
        at their next round (and close what it left open, ``on_gone``), not a presence
        life later. At most ``wait_s`` for Redis."""
        self._closing = True
        await cancel_all(
            [self._rounds, self._redis_work, self._listening, *self._gone_tasks], wait_s
        )
        try:
            await bounded(self.link.client.delete(alive_key(self.server)), wait_s)
        except (RedisError, TimeoutError) as exc:  # it lapses by itself
            log.warning("cluster.server.left_behind server=%s error=%r", self.server, exc)

    # ----------------------------------------------------------------- the round

    def _deadline(self) -> float | None:
        return min((d for d in (p.deadline() for p in self._parts) if d is not None), default=None)

    async def _run(self) -> None:
        loop = asyncio.get_running_loop()
        while not self._closing:
            sent = loop.time()
            reached = await self._reach(sent)
            for part in self._parts:
                try:
                    await part.settle(loop.time())
                except Exception:
                    # Fencing must outlive any one round's bug.
                    log.exception("cluster.round.settle_failed server=%s", self.server)
            if reached:
                await self._find_gone()
                self._listen()
            wake = sent + self.period_s
            due = self._deadline()
            await asyncio.sleep(max(0.0, min(wake, due if due is not None else wake) - loop.time()))

    def _listen(self) -> None:
        if self._listening is not None and not self._listening.done():
            log.info("cluster.round.listeners_busy server=%s", self.server)
            return
        self._listening = asyncio.create_task(self._call_listeners(), name="seat-round-listeners")

    async def _call_listeners(self) -> None:
        for listener in list(self._round_listeners):
            await listeners.call(listener, "cluster.round")

    async def _reach(self, sent: float) -> bool:
        """This round's Redis work, waited for until the first part's deadline at most;
        True when it reached Redis."""
        if self._redis_work is not None and not self._redis_work.done():
            log.warning("cluster.round.stuck server=%s", self.server)
            return False
        work = self._redis_work = asyncio.create_task(self.renew(), name="seat-cluster-round")
        due = self._deadline()
        timeout = None if due is None else max(0.0, due - asyncio.get_running_loop().time())
        done, _ = await asyncio.wait([work], timeout=timeout)
        if not done:
            work.cancel()
            log.warning("cluster.round.late server=%s waited_s=%.3f", self.server, timeout)
            return False
        try:
            work.result()
        except RedisError as exc:
            log.warning("cluster.round.failed server=%s error=%r", self.server, exc)
            return False
        except asyncio.CancelledError:
            return False
        except Exception:
            # The rounds, and with them fencing, must outlive any one round's bug.
            log.exception("cluster.round.failed server=%s", self.server)
            return False
        return True

    async def renew(self) -> None:
        """One round's Redis work: this server's presence, then each part's renewal.
        Raises ``RedisError``."""
        info = ServerInfo(self.server, self.name, self.started)
        # On the reserved connections, as the leases' renewals: a burst of other
        # commands that takes every pooled connection must not make the server look dead.
        async with self.link.reserved.pipeline(transaction=True) as pipe:
            pipe.set(alive_key(self.server), b"1", px=self.ttl_ms)
            pipe.hset(REGISTRY, self.server, info.encode())
            await pipe.execute()
        for part in self._parts:
            await part.renew()

    async def _find_gone(self) -> None:
        """Bounded like the round itself, so a Redis gone silent never holds up the
        next round's fencing."""
        due = self._deadline()
        wait_s = self.period_s if due is None else due - asyncio.get_running_loop().time()
        try:
            found = await bounded(
                self._gone_script(keys=[REGISTRY], args=[ALIVE_PREFIX]), max(0.0, wait_s)
            )
        except (RedisError, TimeoutError) as exc:  # the next round looks again
            log.warning("cluster.server.unchecked server=%s error=%r", self.server, exc)
            return
        for raw_server, raw_entry in zip(found[::2], found[1::2], strict=True):
            server = _text(raw_server)
            try:
                info = ServerInfo.decode(server, raw_entry)
            except ValueError as exc:
                log.warning("cluster.server.malformed server=%s error=%r", server, exc)
                continue
            log.warning(
                "cluster.server.gone server=%s name=%s by=%s", server, info.name, self.server
            )
            for listener in self._gone_listeners:
                task = asyncio.create_task(self._tell_gone(listener, info))
                self._gone_tasks.add(task)
                task.add_done_callback(self._gone_tasks.discard)

    async def _tell_gone(self, listener: GoneListener, info: ServerInfo) -> None:
        await listeners.call(lambda: listener(info), "cluster.server.gone")


def _text(value: bytes | str) -> str:
    return value.decode() if isinstance(value, bytes) else value
