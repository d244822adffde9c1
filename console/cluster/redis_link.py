"""One server's link to Redis, which holds what several servers of one centre share live.

Commands go through redis-py's connection pool, which redials by itself; a command
on a pooled connection that died (Redis restarted) is tried once more on a new one,
so each server's first commands after a restart do not fail. Messages
between servers come on ONE pub/sub connection per server, and a pub/sub connection
that drops loses whatever was published while it was down: so the link says when it
is back (``on_up``), and whoever relies on messages (lane leases, the console's news,
the call queue) reads again what it may have missed. Nothing here knows what the
channels carry, except the server's own channel, which many parts share.

The server's own channel carries messages of several kinds (``console.cluster.envelope``):
``on_kind(kind, handler)`` registers the one handler of a kind, and ``send(server,
body)`` sends one to another server (``send_named``: to the server a key names, such as
a lane's lease). A message no handler here takes, or that cannot be read, is logged
(``redis.message_refused``) and dropped. Kinds in use: ``request`` and ``reply``
(``console.cluster.requests``: one server asks another and waits for its answer).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import secrets
import socket
from collections.abc import Callable
from typing import Any

import redis.asyncio as redis
from redis.asyncio.retry import Retry
from redis.backoff import NoBackoff
from redis.exceptions import ConnectionError, RedisError

from gates.backoff import Backoff

from ..errors import ClusterError
from . import listeners
from .bounded import CLOSE_WAIT_S, cancel_all
from .envelope import B, Body, EnvelopeError, open_envelope, seal
from .listeners import Listener as UpListener

log = logging.getLogger("seat.cluster")

Handler = Callable[[bytes], None]
# The sender, and the body of the kind the handler was registered for.
KindHandler = Callable[[str, Any], None]

# How long one Redis command may take before the server counts Redis as unreachable: a
# healthy Redis answers in well under a millisecond, and a command waiting longer than
# this holds up an agent's request.
COMMAND_TIMEOUT_S = 2.0
# How long the pub/sub connection may be silent before it is pinged: a cut that sends
# no reset is noticed within about twice this.
PUBSUB_PING_S = 1.0
# Connections of the reserved pool (``RedisLink.reserved``): a server's round (its
# presence, then its leases, one after the other; a round is not sent while the last is
# still at Redis) and the leases' rewrite after Redis comes back; a few more for a round
# whose cancelled connection is still being closed.
RESERVED_CONNECTIONS = 5
# Connections of the link's main pool.
POOLED_CONNECTIONS = 100


def server_id() -> str:
    """This process's name among the centre's servers: readable in logs, and new at
    each start, so a restarted server never mistakes the lanes its last life held for
    its own."""
    return f"{socket.gethostname()}-{os.getpid()}-{secrets.token_hex(3)}"


def server_channel(server: str) -> str:
    return f"seat:server:{server}"


# KEYS[1] names a server (or nobody); ARGV: this server, the channels' prefix, the message.
_SEND_NAMED = """
local server = redis.call('GET', KEYS[1])
if not server then return {'', 0} end
if server == ARGV[1] then return {server, -1} end
return {server, redis.call('PUBLISH', ARGV[2] .. server, ARGV[3])}
"""


class RedisLink:
    """Owned by the app; ``start`` before use, ``close`` at shutdown."""

    def __init__(self, url: str, server: str | None = None) -> None:
        self.server = server or server_id()
        timeouts: dict[str, Any] = {
            "socket_timeout": COMMAND_TIMEOUT_S,
            "socket_connect_timeout": COMMAND_TIMEOUT_S,
            "health_check_interval": PUBSUB_PING_S,
        }
        retrying: dict[str, Any] = {
            "retry": Retry(NoBackoff(), 1),
            "retry_on_error": [ConnectionError],
        }
        # A burst of commands (a thousand lanes claiming their leases at once, after a
        # server died) waits for a connection, up to a command's time, rather than be
        # refused as redis-py's default pool refuses what finds every connection in use.
        self.client: redis.Redis = _waiting(url, POOLED_CONNECTIONS, **retrying, **timeouts)
        # For what must get through whatever else is under way (the rounds: the server's
        # presence and its leases): a pool of its own, which no burst can draw dry.
        self.reserved: redis.Redis = _waiting(url, RESERVED_CONNECTIONS, **retrying, **timeouts)
        # The pub/sub connection never retries by itself: redis-py would then redial and
        # subscribe again unseen, and ``on_up`` would not be called.
        self._subscriber: redis.Redis = redis.Redis.from_url(url, **timeouts)
        self._handlers: dict[str, set[Handler]] = {}
        self._kinds: dict[str, tuple[type[Body], KindHandler]] = {}
        self._handlers[self.channel] = {self._dispatch}
        self._send_named = self.client.register_script(_SEND_NAMED)
        self._up_listeners: list[UpListener] = []
        # Each listener's latest run (``_run_up_listeners``).
        self._up_runs: dict[int, asyncio.Task[None]] = {}
        self._pubsub: redis.client.PubSub | None = None
        self._task: asyncio.Task[None] | None = None
        self._closing = False
        self._up = asyncio.Event()

    # ------------------------------------------------------------------ use

    @property
    def channel(self) -> str:
        """This server's own channel: what other servers send to it alone."""
        return server_channel(self.server)

    def subscribe(self, channel: str, handler: Handler) -> None:
        """``handler(data)`` for each message on ``channel`` while the link is up; it
        runs on the loop and must not block. Only before ``start``: a server's channels
        are fixed (its own, and the centre's broadcasts), so the link is whole from its
        first connection, and never reads and writes its connection from two tasks."""
        if self._task is not None:
            raise RuntimeError("subscribe before the link starts")
        self._handlers.setdefault(channel, set()).add(handler)

    def on_kind(self, kind: type[B], handler: Callable[[str, B], None]) -> None:
        """``handler(sender, body)`` for each message of ``kind`` on this server's own
        channel; one handler a kind, so two parts cannot both answer the same message."""
        if kind.KIND in self._kinds:
            raise RuntimeError(f"kind {kind.KIND!r} already has a handler")
        self._kinds[kind.KIND] = (kind, handler)

    async def send(self, server: str, body: Body) -> int:
        """Send ``body`` to ``server``'s own channel; the number of links that got it (0:
        that server is gone). Raises ``RedisError``, or ``EnvelopeError`` for a body
        larger than any server reads."""
        return await self.publish(server_channel(server), seal(self.server, body))

    async def send_named(self, key: str, body: Body) -> tuple[str, int]:
        """``send`` to the server whose id is the value of ``key`` (a lane's lease), read
        and sent in one round trip. Returns that server and the links that got it; ""
        when the key is unset, and -1 when it names this server (nothing is sent)."""
        server, receivers = await self._send_named(
            keys=[key], args=[self.server, server_channel(""), seal(self.server, body)]
        )
        return (server.decode() if isinstance(server, bytes) else str(server)), int(receivers)

    def _dispatch(self, data: bytes) -> None:
        try:
            envelope = open_envelope(data, *(kind for kind, _ in self._kinds.values()))
        except EnvelopeError as exc:
            log.warning("redis.message_refused server=%s error=%s", self.server, exc)
            return
        _, handler = self._kinds[envelope.body.KIND]
        handler(envelope.sender, envelope.body)

    def on_up(self, listener: UpListener) -> None:
        """``listener()`` each time the pub/sub connection is (re)established and every
        channel is subscribed: the moment to write again what Redis may have lost
        (a restarted Redis keeps nothing) and to read what was missed. It runs in a task
        of its own, so the reader goes on reading meanwhile; its failure is logged."""
        self._up_listeners.append(listener)

    async def publish(self, channel: str, data: bytes) -> int:
        """Raises ``RedisError`` when Redis cannot be reached; the number of servers'
        links that got it otherwise."""
        return int(await self.client.publish(channel, data))

    @property
    def up(self) -> bool:
        """Subscribed to every channel now: messages sent to this server arrive."""
        return self._up.is_set()

    async def wait_up(self) -> None:
        await self._up.wait()

    async def check(self) -> None:
        """For ``/readyz``: Redis answers, and this server hears what the others send
        it (its pub/sub connection is up: a server that cannot hear them would take
        requests it cannot serve)."""
        if not self.up:
            raise ClusterError("redis_unsubscribed", f"{self.server} is not subscribed")
        try:
            await self.client.ping()
        except (RedisError, OSError) as exc:
            raise ClusterError("redis_unreachable", repr(exc)) from exc

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        self._closing = False
        self._task = asyncio.create_task(self._listen(), name="seat-redis-pubsub")

    async def close(self) -> None:
        # The reader's loops end on this too: redis-py may swallow the cancel of a
        # read that was ending (seen in a pub/sub health check), and the loop would
        # then go on reading, and redialling, for ever.
        self._closing = True
        await cancel_all([self._task], CLOSE_WAIT_S)
        self._task = None
        # A listener stuck in a call to a silent Redis ends as its pool closes.
        await cancel_all(self._up_runs.values(), CLOSE_WAIT_S)
        self._up_runs.clear()
        await self.client.aclose()
        await self.reserved.aclose()
        await self._subscriber.aclose()

    # ------------------------------------------------------------------ the listener

    async def _listen(self) -> None:
        backoff = Backoff(first=0.1, cap=2.0)
        try:
            while not self._closing:
                try:
                    await self._session(backoff)
                except (RedisError, OSError) as exc:
                    if self.up:
                        log.warning("redis.down server=%s error=%r", self.server, exc)
                except Exception:
                    # The reader must outlive any one message's or connection's bug.
                    log.exception("redis.reader_failed server=%s", self.server)
                finally:
                    self._up.clear()
                    await self._drop_pubsub()
                await asyncio.sleep(backoff.next())
        finally:
            self._up.clear()  # nothing is heard once the reader stops, whatever stopped it

    async def _session(self, backoff: Backoff) -> None:
        """One pub/sub connection, from subscribing until it fails."""
        pubsub = self._pubsub = self._subscriber.pubsub()
        # The server's own channel even when no one listens on it, so the connection
        # exists (and is pinged) from the start.
        channels = sorted({self.channel, *self._handlers})
        await pubsub.subscribe(*channels)
        # Idle pooled connections may lead to a Redis that restarted since: each would
        # fail its next command. Closed, they are dialled again when next drawn.
        for client in (self.client, self.reserved):
            await client.connection_pool.disconnect(inuse_connections=False)
        self._up.set()
        backoff.reset()
        log.info("redis.up server=%s channels=%d", self.server, len(channels))
        self._run_up_listeners()
        while not self._closing:
            message = await pubsub.get_message(
                ignore_subscribe_messages=True, timeout=PUBSUB_PING_S
            )
            if message is None:
                continue
            if message["type"] == "message":
                self._deliver(message["channel"], message["data"])

    def _run_up_listeners(self) -> None:
        """Each listener in a task of its own: one that reads the store for seconds (or
        waits for a store that is down) must not stop the reader hearing the other
        servers. A listener still running from the last reconnection runs again once
        that run ends: each runs after every reconnection, never twice at once."""
        for index, listener in enumerate(self._up_listeners):
            previous = self._up_runs.get(index)
            run = asyncio.create_task(self._up_run(previous, listener), name="seat-redis-up")
            self._up_runs[index] = run

    async def _up_run(self, previous: asyncio.Task[None] | None, listener: UpListener) -> None:
        if previous is not None and not previous.done():
            await asyncio.wait([previous])
        await listeners.call(listener, "redis.up")

    def _deliver(self, raw_channel: bytes | str, data: bytes) -> None:
        channel = raw_channel.decode() if isinstance(raw_channel, bytes) else raw_channel
        for handler in list(self._handlers.get(channel, ())):
            try:
                handler(data)
            except Exception:
                # One listener's bug must not stop the others hearing the centre.
                log.exception("redis.handler_failed channel=%s", channel)

    async def _drop_pubsub(self) -> None:
        pubsub, self._pubsub = self._pubsub, None
        if pubsub is not None:
            with contextlib.suppress(RedisError, OSError):
                await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py's own


def _waiting(url: str, connections: int, **options: Any) -> redis.Redis:
    """A client whose pool makes a command wait for a free connection, at most
    ``COMMAND_TIMEOUT_S``, then raise ``ConnectionError``."""
    pool = redis.BlockingConnectionPool.from_url(
        url, max_connections=connections, timeout=COMMAND_TIMEOUT_S, **options
    )
    client = redis.Redis(connection_pool=pool)
    client.auto_close_connection_pool = True  # as ``Redis.from_url``'s own: closed with it
    return client
