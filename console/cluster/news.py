"""The console's news on every server of a centre: what one server tells its tabs
(``Streams.tell``) and its ledger's new entries, published on ``CHANNEL`` and delivered
by each other server to its own tabs, chosen by each tab's user as there.

Only news that happens on one server travels: a car held at a lane, an order's
change, an entry appended. What every server learns by itself (a lane's record from
the change feed, an order's expiry from its own timer) is told by each to its own tabs,
so no tab is told twice.

Messages go out in the order they were told, by one sender task. A pub/sub message
lost is never sent again, so a server that may have missed some resyncs its tabs: when
its link is (re)established (``RedisLink.on_up``), and when another server says it could
not publish (a ``lost`` message, sent as soon as it can). Resyncing delivers the ledger's
entries it has not delivered yet, read from the store, to its supervisors' tabs, and
sends every tab the lane list again, after which a console reads again what it shows
(the order on show, the newest ledger page). A plate alert missed is not shown again:
the ledger keeps it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from typing import Any

from redis.exceptions import RedisError

from ..audience import SUPERVISORS, Audience
from ..audit import AuditLog
from ..errors import StoreError
from ..ledger import AuditEntry
from ..store import Store
from ..streams import QUEUE_LIMIT, Message, Streams
from .bounded import CLOSE_WAIT_S, cancel_all
from .envelope import EnvelopeError, open_envelope, seal
from .news_wire import KINDS, Appended, Lost, News
from .redis_link import RedisLink

log = logging.getLogger("seat.cluster")

CHANNEL = "seat:news:centre"
# Messages waiting for Redis: a few seconds of a busy centre. More, and Redis is not
# keeping up; they are dropped and the other servers told to resync.
SEND_QUEUE = 10_000
# Ledger entries delivered, remembered to deliver none twice when resyncing; a tab
# holds fewer than this waiting.
SEEN_KEPT = 4 * QUEUE_LIMIT
# The ledger is read back this many entries at a time.
PAGE = 500
_WAKE = b""  # queued to have the sender tell of what was lost

Heard = Callable[[Message], None]


class NewsWire:
    def __init__(self, link: RedisLink, streams: Streams, audit: AuditLog, store: Store) -> None:
        self.link = link
        self.streams = streams
        self.store = store
        self._queue: asyncio.Queue[bytes] = asyncio.Queue(SEND_QUEUE)
        self._lost = False  # news this server told the others never reached Redis
        self._seen: set[int] = set()
        self._floor = 0  # ledger entries up to this one need no delivery
        self._heard: list[Heard] = []
        self._sender: asyncio.Task[None] | None = None
        self._running: set[asyncio.Task[None]] = set()
        link.subscribe(CHANNEL, self._received)
        link.on_up(self._up)
        streams.set_wire(self)
        audit.subscribe(self._audited)

    def on_heard(self, listener: Heard) -> None:
        """``listener(message)`` for each piece of news another server told."""
        self._heard.append(listener)

    async def start(self) -> None:
        """Before the link starts: entries from before now are no tab's news."""
        newest = await self.store.audit_page(1)
        self._floor = newest[0].seq if newest else 0
        self._sender = asyncio.create_task(self._send_all(), name="seat-news-sender")

    async def close(self) -> None:
        await cancel_all([self._sender, *self._running], CLOSE_WAIT_S)

    # ------------------------------------------------------------------ out

    def send(self, audience: Audience, message: Message, key: str | None) -> None:
        self._tell(News(audience, message, key))

    def _audited(self, entry: AuditEntry) -> None:
        self._saw(entry.seq)
        self._tell(Appended(entry.to_json()))

    def _tell(self, body: News | Appended) -> None:
        try:
            data = seal(self.link.server, body)
        except EnvelopeError as exc:  # larger than any server reads: they resync instead
            log.error("cluster.news.unsendable error=%s", exc)
            self._lost = True
            data = _WAKE
        self._enqueue(data)

    def _enqueue(self, data: bytes) -> None:
        try:
            self._queue.put_nowait(data)
        except asyncio.QueueFull:
            if not self._lost:
                log.error("cluster.news.dropped queued=%d", self._queue.qsize())
            self._lost = True

    async def _send_all(self) -> None:
        while True:
            data = await self._queue.get()
            if self._lost:
                self._lost = not await self._publish(seal(self.link.server, Lost()))
            if data != _WAKE and not await self._publish(data):
                self._lost = True

    async def _publish(self, data: bytes) -> bool:
        try:
            await self.link.publish(CHANNEL, data)
        except (RedisError, OSError) as exc:
            if not self._lost:
                log.warning("cluster.news.unsent error=%r", exc)
            return False
        return True

    # ------------------------------------------------------------------ in

    def _received(self, data: bytes) -> None:
        try:
            envelope = open_envelope(data, *KINDS)
        except EnvelopeError as exc:
            log.error("cluster.news.refused error=%s", exc)
            return
        if envelope.sender == self.link.server:
            return  # delivered here when told
        body = envelope.body
        if isinstance(body, Lost):
            log.warning("cluster.news.lost sender=%s", envelope.sender)
            task = asyncio.create_task(self.resync())
            self._running.add(task)
            task.add_done_callback(self._running.discard)
        elif isinstance(body, Appended):
            self._deliver_entry(body.seq, body.entry)
        elif isinstance(body, News):
            self.streams.deliver(body.audience, body.message, body.key)
            for listener in self._heard:
                listener(body.message)

    def _deliver_entry(self, seq: int, entry: dict[str, Any]) -> None:
        if seq <= self._floor or seq in self._seen:
            return
        self._saw(seq)
        self.streams.deliver(SUPERVISORS, {"type": "audit", "entry": entry})

    def _saw(self, seq: int) -> None:
        self._seen.add(seq)
        if len(self._seen) > 2 * SEEN_KEPT:
            kept = sorted(self._seen)[-SEEN_KEPT:]
            self._seen = set(kept)
            self._floor = max(self._floor, kept[0] - 1)

    # ------------------------------------------------------------------ gaps

    async def _up(self) -> None:
        """The link is (re)established: what was published while it was down is lost
        to this server, and the others may not have had what it failed to send."""
        if self._lost:
            self._enqueue(_WAKE)
        await self.resync()

    async def resync(self) -> None:
        """Deliver the ledger's entries not delivered yet (the newest, as many as a tab
        holds), then send every tab the lane list."""
        try:
            missed = await self._missed_entries()
        except StoreError as exc:
            log.error("cluster.news.resync_failed error=%s", exc.detail)
            missed = []
        for entry in missed:
            self._deliver_entry(entry.seq, entry.to_json())
        self.streams.resync()
        log.info("cluster.news.resynced entries=%d", len(missed))

    async def _missed_entries(self) -> list[AuditEntry]:
        missed: list[AuditEntry] = []
        before: int | None = None
        while len(missed) < QUEUE_LIMIT:
            page = await self.store.audit_page(PAGE, before)
            fresh = [entry for entry in page if entry.seq > self._floor]
            missed.extend(entry for entry in fresh if entry.seq not in self._seen)
            if len(fresh) < PAGE:
                break
            before = page[-1].seq
        return missed[:QUEUE_LIMIT][::-1]
