"""This server's lane leases over time: taken when a lane is welcomed, renewed, let go
when the lane leaves, and given up in time when Redis cannot confirm them.

The rule for a lane that connects here while another server holds its lease: ask that
server to let go (it closes its link to the lane as replaced and deletes its lease),
then take the lease; if it does not answer (it died, or is cut off), wait until its
lease expires, at most one lease life, then take it. A server that is cut off cannot
renew, so it has closed its links before its leases expire (``lease_rules``): the lane
is never held twice, and a dead server's lanes come up elsewhere one lease life after
its last renewal at the latest.
"""

from __future__ import annotations

import asyncio
import logging

from redis.exceptions import RedisError

from gates.centre.hub import LaneHub
from gates.centre.status import LaneStatus

from .bounded import bounded
from .lease_rules import LeasePolicy, Tenure, handover_wait_s
from .leases import LeaseStore
from .redis_link import RedisLink
from .requests import Body, PeerError, Requests, lane_of
from .servers import Servers

log = logging.getLogger("seat.cluster")


class LaneHolding:
    """Renews its leases in the server's round (``Servers``: a ``RoundPart``), with the
    server's presence: one round says the server is alive and that it holds its lanes."""

    def __init__(
        self,
        link: RedisLink,
        requests: Requests,
        hub: LaneHub,
        policy: LeasePolicy,
        servers: Servers,
    ) -> None:
        self.server = link.server
        self.servers = servers
        self.policy = policy
        self.requests = requests
        self.hub = hub
        self.store = LeaseStore(link.client, link.server, policy, renewing=link.reserved)
        self.tenure = Tenure(policy)
        self._locks: dict[str, asyncio.Lock] = {}
        self._tasks: set[asyncio.Task[object]] = set()
        self._closed = False
        hub.claim = self.claim
        hub.subscribe(self._status_changed)
        requests.answer("let_go", self._let_go)
        link.on_up(self._retake)
        servers.add_part(self)

    async def close(self, wait_s: float) -> None:
        """Let go of every lease (the links are closed by now, and the rounds stopped),
        so the lanes come up on another server at once rather than after a lease life;
        at most ``wait_s`` for Redis, after which they expire by themselves."""
        self._closed = True
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await bounded(self._release_all(), wait_s)
        except TimeoutError as exc:
            log.warning("lane.lease.release_failed held=%d error=%r", len(self.tenure.held), exc)

    async def _release_all(self) -> None:
        for lane in self.tenure.held:
            await self._release(lane)

    # ----------------------------------------------------------------- taking

    async def claim(self, lane: str) -> bool:
        """Take ``lane``'s lease for a link being welcomed here (see the module's rule);
        False when it cannot be had within two lease lives (the holder's lease may
        have just been renewed when the ask went unanswered), or Redis cannot be reached."""
        loop = asyncio.get_running_loop()
        started = loop.time()
        give_up = started + self.policy.ttl_s * 2
        asked = False
        async with self._lock(lane):
            while True:
                sent = loop.time()
                try:
                    holder, pttl_ms = await self.store.take(lane)
                except RedisError as exc:
                    log.warning("lane.lease.unreachable lane=%s error=%r", lane, exc)
                    return False
                if holder == self.server:
                    self.tenure.taken(lane, sent)
                    log.info(
                        "lane.lease.taken lane=%s server=%s wait_ms=%d",
                        lane,
                        self.server,
                        round((loop.time() - started) * 1000),
                    )
                    return True
                if not asked:
                    asked = True
                    if await self._ask_let_go(holder, lane):
                        continue
                wait = handover_wait_s(pttl_ms, self.policy)
                if loop.time() + wait > give_up:
                    log.warning("lane.lease.refused lane=%s holder=%s", lane, holder)
                    return False
                # The other server's lease ends at a known time: waiting for it is
                # waiting for that event, which no message announces.
                await asyncio.sleep(wait)

    async def _ask_let_go(self, holder: str, lane: str) -> bool:
        try:
            await self.requests.ask(holder, "let_go", {"lane": lane}, self.policy.renew_s)
        except (PeerError, RedisError) as exc:
            log.info("lane.lease.holder_silent lane=%s holder=%s error=%r", lane, holder, exc)
            return False
        return True

    async def _let_go(self, body: Body) -> Body:
        """Another server has the lane's new link: close ours as replaced, free the lease."""
        lane = lane_of(body)
        dropped = await self.hub.drop(lane, replaced=True)
        log.info("lane.lease.let_go lane=%s dropped=%s", lane, dropped)
        return {"released": await self._release(lane)}

    # ----------------------------------------------------------------- letting go

    def _status_changed(self, status: LaneStatus) -> None:
        if not status.online and self.tenure.holds(status.lane) and not self._closed:
            task = asyncio.create_task(self._release(status.lane))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)

    async def _release(self, lane: str) -> bool:
        async with self._lock(lane):
            if self.hub.status(lane).online:
                return False  # the lane came back here meanwhile: still ours
            self.tenure.let_go(lane)
            try:
                released = await self.store.release(lane)
            except RedisError as exc:
                # It expires by itself within a lease life.
                log.warning("lane.lease.release_failed lane=%s error=%r", lane, exc)
                return False
        log.info("lane.lease.released lane=%s released=%s", lane, released)
        return released

    def _lock(self, lane: str) -> asyncio.Lock:
        return self._locks.setdefault(lane, asyncio.Lock())

    # ----------------------------------------------------------------- keeping

    def deadline(self) -> float | None:
        """A round must reach Redis before the first lease falls due."""
        return self.tenure.next_due()

    async def settle(self, now: float) -> None:
        """Fencing: the links of the lanes whose leases are past their safe time close,
        whether or not the round reached Redis, all at once."""
        due = self.tenure.due(now)
        for lane in due:
            log.warning("lane.lease.fenced lane=%s server=%s", lane, self.server)
        await self._drop(due)

    async def renew(self, *, rewrite: bool = False) -> None:
        """One round trip for every lease held; a lease another server has now is lost
        and its link closed so the lane redials. A lease no server has is not renewed
        (it was let go meanwhile, or Redis forgot it and ``_retake`` writes it again):
        unless retaken, it falls due and its link closes."""
        lanes = self.tenure.held
        sent = asyncio.get_running_loop().time()
        lost, missing = await self.store.renew(lanes, rewrite=rewrite)
        if lost or missing:
            gone = {*lost, *missing}
            lanes = [lane for lane in lanes if lane not in gone]
        self.tenure.renewed(lanes, sent)
        for lane in missing:
            if self.tenure.holds(lane):
                log.info("lane.lease.missing lane=%s server=%s", lane, self.server)
        for lane in lost:
            log.warning("lane.lease.lost lane=%s server=%s", lane, self.server)
            self.tenure.let_go(lane)
        await self._drop(lost)

    async def _drop(self, lanes: list[str]) -> None:
        """Close these lanes' links, all at once: each is offline here as its drop
        starts, none waiting for another's close. A drop that fails is logged and the
        others go on: fencing must outlive any one link's failure."""
        results = await asyncio.gather(
            *(self.hub.drop(lane) for lane in lanes), return_exceptions=True
        )
        for lane, result in zip(lanes, results, strict=True):
            if isinstance(result, Exception):
                log.error("lane.lease.drop_failed lane=%s", lane, exc_info=result)

    async def _retake(self) -> None:
        """Redis is back (perhaps restarted, with no keys): the leases of the lanes held
        here are written again, or, where another server has one, its link closed."""
        await self.renew(rewrite=True)
        log.info("lane.lease.retaken server=%s held=%d", self.server, len(self.tenure.held))
