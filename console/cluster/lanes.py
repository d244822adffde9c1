"""Every lane of the centre, from any of its servers: each lane's status wherever its
link is, and its commands and notices sent to the server that holds it.

Each server writes its own lanes' statuses to the hash ``seat:lanes:status`` (a field
per lane) and publishes each change on the channel of that name; the others keep them.
A lane shown online as another server's counts as offline as soon as that server no
longer holds its lease (checked at every lease renewal), and after Redis comes back the
hash is read again rather than trusting messages that may have been missed.
"""

from __future__ import annotations

import asyncio
import base64
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import replace
from typing import Any, TypeGuard

from redis.exceptions import RedisError

from gates.backoff import Backoff
from gates.centre.commands import Outcome, Resolved
from gates.centre.hub import LaneHub, StatusListener
from gates.centre.status import LaneStatus
from gates.errors import LinkError
from gates.protocol import Command, Display, Media, OpenGate, parse_centre_message
from gates.vocabulary import GateState
from gates.wire import Message

from ..errors import ClusterError
from .bounded import CLOSE_WAIT_S, bounded
from .envelope import EnvelopeError, open_as, seal
from .holding import LaneHolding
from .lease_rules import stale_holders
from .leases import key
from .redis_link import RedisLink
from .requests import Body, PeerError, PeerGone, PeerTimeout, Refusal, Requests, Unheld, lane_of
from .status_wire import StatusReport

log = logging.getLogger("seat.cluster")

STATUS_KEY = "seat:lanes:status"
# Writes and publishes a lane's status (ARGV[3], a ``lane_status`` message) from server
# ARGV[1], unless it is not that server's to tell: another server holds the lane's
# lease, or, with the lease free, another server wrote the lane's status last (its
# envelope's ``from``). So a server that was cut off and comes back cannot overwrite
# the lane's new server with its own stale goodbye. A value that names no sender (not
# an envelope) is overwritten.
_WRITE = """
local lease = redis.call('GET', KEYS[2])
if lease ~= ARGV[1] then
  if lease then return 0 end
  local last = redis.call('HGET', KEYS[1], ARGV[2])
  if last then
    local read, message = pcall(cjson.decode, last)
    local from = read and type(message) == 'table' and message['from']
    if type(from) == 'string' and from ~= ARGV[1] then
      return 0
    end
  end
end
redis.call('HSET', KEYS[1], ARGV[2], ARGV[3])
redis.call('PUBLISH', KEYS[1], ARGV[3])
return 1
"""
# How long a notice to another server's lane may take: it is one Redis hop each way
# and one WebSocket send, so anything longer means that server is in trouble. A
# snapshot is one Redis hop each way too, of a few hundred kilobytes.
NOTIFY_WAIT_S = 2.0
SNAPSHOT_WAIT_S = 2.0


class ClusterLanes:
    """What ``LaneHub`` offers the console (``status``, ``online``, ``subscribe``,
    ``command``, ``notify``) for every lane of the centre."""

    def __init__(
        self,
        link: RedisLink,
        requests: Requests,
        hub: LaneHub,
        holding: LaneHolding,
        max_wait_s: float,
    ) -> None:
        """``max_wait_s``: the longest another server may have a command wait here for
        its lane (the centre's command timeout, ``SEAT_COMMAND_TIMEOUT_S``)."""
        self.link = link
        self.max_wait_s = max_wait_s
        self.server = link.server
        self.requests = requests
        self.hub = hub
        self.holding = holding
        # Each lane's status as another server last told it, and as the console here
        # was last told it (from here or there).
        self._remote: dict[str, tuple[str, LaneStatus]] = {}
        self._shown: dict[str, LaneStatus] = {}
        self._listeners: set[StatusListener] = set()
        self._waiting: dict[str, asyncio.Future[Resolved]] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._unpublished: dict[str, LaneStatus] = {}
        self._publishing = asyncio.Event()
        self._publisher: asyncio.Task[None] | None = None
        self._write = link.client.register_script(_WRITE)
        hub.subscribe(self._local_changed)
        link.subscribe(STATUS_KEY, self._heard)
        link.on_up(self._reload)
        holding.servers.after_each_round(self._check_holders)
        requests.answer("command", self._answer_command)
        requests.answer("notify", self._answer_notify)
        requests.answer("snapshot", self._answer_snapshot)

    async def start(self) -> None:
        self._publisher = asyncio.create_task(self._publish(), name="seat-lane-status")

    async def close(self, wait_s: float = CLOSE_WAIT_S) -> None:
        """Publish what is left (the lanes that went offline as the server stopped),
        waiting at most ``wait_s`` for Redis: the others find those lanes' leases gone
        anyway."""
        if self._publisher is not None:
            self._publisher.cancel()
            await asyncio.gather(self._publisher, return_exceptions=True)
        await asyncio.gather(*self._tasks, return_exceptions=True)
        try:
            await bounded(self._flush(), wait_s)
        except (RedisError, TimeoutError) as exc:
            log.warning("lane.status.unpublished lanes=%d error=%r", len(self._unpublished), exc)

    # ----------------------------------------------------------------- queries

    def status(self, lane: str) -> LaneStatus:
        local = self.hub.status(lane)
        return local if local.online else self._shown.get(lane, local)

    def online(self) -> list[str]:
        here = self.hub.online()
        there = [lane for lane, (_, s) in self._remote.items() if s.online]
        return here + [lane for lane in there if not self.hub.status(lane).online]

    def subscribe(self, listener: StatusListener) -> Callable[[], None]:
        self._listeners.add(listener)
        return lambda: self._listeners.discard(listener)

    def _tell(self, status: LaneStatus) -> None:
        self._shown[status.lane] = status
        for listener in list(self._listeners):
            listener(status)

    # ----------------------------------------------------------------- commands

    async def command(self, lane: str, command: Command, wait_s: float) -> Resolved:
        """As ``LaneHub.command``, wherever the lane is: one outcome per command id (a
        second call joins the first), ``lane_offline`` when no server holds the lane,
        ``timeout`` at the deadline when its server does not answer (it died)."""
        if self.hub.status(lane).online or self.hub.pending(command.command_id):
            return await self.hub.command(lane, command, wait_s)
        waiter = self._waiting.get(command.command_id)
        if waiter is None:
            waiter = asyncio.get_running_loop().create_future()
            self._waiting[command.command_id] = waiter
            self._spawn(self._command_there(lane, command, wait_s, waiter))
        return await asyncio.shield(waiter)

    async def _command_there(
        self, lane: str, command: Command, wait_s: float, waiter: asyncio.Future[Resolved]
    ) -> None:
        deadline = asyncio.get_running_loop().time() + wait_s
        try:
            waiter.set_result(await self._ask_holder(lane, command, deadline))
        except Exception as exc:
            waiter.set_exception(exc)  # every caller joined to it hears it, none hangs
        finally:
            self._waiting.pop(command.command_id, None)

    async def _ask_holder(self, lane: str, command: Command, deadline: float) -> Resolved:
        loop = asyncio.get_running_loop()
        command_id = command.command_id
        remaining = deadline - loop.time()
        # The holder ends the command a little before the asker's deadline, so its
        # outcome (done at the last moment too) reaches the asker in time.
        body = {"lane": lane, "command": command.encode(), "wait_s": remaining - _slack(remaining)}
        try:
            answer = await self.requests.ask_holder(key(lane), "command", body, remaining)
            return Resolved(
                lane, command_id, Outcome(answer["outcome"]), str(answer.get("detail", ""))
            )
        except Unheld:
            # Nobody has it (or its link is being welcomed here): this server's book
            # gives the outcome, and remembers it for a retry.
            return await self.hub.command(lane, command, max(0.0, deadline - loop.time()))
        except PeerGone as exc:
            return Resolved(lane, command_id, Outcome.LANE_OFFLINE, exc.detail)
        except PeerTimeout as exc:
            return Resolved(lane, command_id, Outcome.TIMEOUT, exc.detail)
        except (PeerError, RedisError, KeyError, ValueError) as exc:
            # Whether it reached the lane is not known: the agent must look.
            log.warning("gate.command.unanswered lane=%s error=%r", lane, exc)
            return Resolved(lane, command_id, Outcome.TIMEOUT, "no outcome from the lane's server")

    async def _answer_command(self, body: Body) -> Body:
        lane, wait_s = lane_of(body), body.get("wait_s")
        command = _centre_message(body.get("command"))
        if not _seconds(wait_s, self.max_wait_s):
            raise Refusal(
                "bad_request", f"a command needs wait_s, more than 0 and at most {self.max_wait_s}"
            )
        if not isinstance(command, OpenGate | Display):
            raise Refusal("bad_request", "not a command")
        resolved = await self.hub.command(lane, command, float(wait_s))
        return {"outcome": resolved.outcome.value, "detail": resolved.detail}

    # ----------------------------------------------------------------- notices

    async def notify(self, lane: str, message: Message) -> bool:
        """As ``LaneHub.notify``, wherever the lane is: False when no server holds it."""
        if self.hub.status(lane).online:
            return await self.hub.notify(lane, message)
        body = {"lane": lane, "message": message.encode()}
        try:
            answer = await self.requests.ask_holder(key(lane), "notify", body, NOTIFY_WAIT_S)
        except Unheld:
            return False
        except (PeerError, RedisError) as exc:
            log.info("lane.notify.unsent lane=%s type=%s error=%r", lane, message.TYPE, exc)
            return False
        return answer.get("sent") is True

    async def _answer_notify(self, body: Body) -> Body:
        lane, message = lane_of(body), _centre_message(body.get("message"))
        if not isinstance(message, Display | Media):
            raise Refusal("bad_request", "a notice needs a display or media message")
        return {"sent": await self.hub.notify(lane, message)}

    # ----------------------------------------------------------------- snapshots

    async def snapshot(self, lane: str) -> bytes | None:
        """The JPEG of the lane's last vehicle, which its status names but does not
        carry (``status_wire``): this server's own when the lane is here or no other
        server told of it, else asked of the server that told its status last. None
        when there is none, or that server is gone (and its snapshot with it); raises
        ``ClusterError`` when that server cannot be heard."""
        local, remote = self.hub.status(lane), self._remote.get(lane)
        if local.online or remote is None:
            return local.snapshot
        server = remote[0]
        try:
            answer = await self.requests.ask(server, "snapshot", {"lane": lane}, SNAPSHOT_WAIT_S)
        except PeerGone:
            return None
        except (PeerError, RedisError) as exc:
            log.warning("lane.snapshot.unanswered lane=%s server=%s error=%r", lane, server, exc)
            raise ClusterError("snapshot_unavailable", f"server {server}: {exc}") from exc
        jpeg = answer.get("jpeg")
        if jpeg is None:
            return None
        try:
            return base64.b64decode(jpeg, validate=True)
        except (TypeError, ValueError):  # binascii.Error is one
            log.warning("lane.snapshot.malformed lane=%s server=%s", lane, server)
            raise ClusterError("snapshot_unavailable", f"server {server}: not base64") from None

    async def _answer_snapshot(self, body: Body) -> Body:
        jpeg = self.hub.status(lane_of(body)).snapshot
        return {"jpeg": None if jpeg is None else base64.b64encode(jpeg).decode()}

    # ----------------------------------------------------------------- statuses

    def _local_changed(self, status: LaneStatus) -> None:
        self._unpublished[status.lane] = status
        self._publishing.set()
        if status.online:
            # Held here, so whatever another server said of it is past.
            self._remote.pop(status.lane, None)
            self._tell(status)
            return
        remote = self._remote.get(status.lane)
        if remote is None or not remote[1].online:
            self._tell(status)

    async def _publish(self) -> None:
        backoff = Backoff(first=0.1, cap=2.0)
        while True:
            await self._publishing.wait()
            try:
                await self._flush()
                backoff.reset()
            except RedisError as exc:
                log.warning(
                    "lane.status.unpublished lanes=%d error=%r", len(self._unpublished), exc
                )
                # Tried again once Redis answers (a Redis that restarted gets every
                # lane of this server again, ``_reload``).
                self._publishing.set()
                await self.link.wait_up()
                await asyncio.sleep(backoff.next())

    async def _flush(self) -> None:
        self._publishing.clear()
        statuses, self._unpublished = self._unpublished, {}
        if not statuses:
            return
        try:
            async with self.link.client.pipeline(transaction=False) as pipe:
                for status in statuses.values():
                    data = seal(self.server, StatusReport(status))
                    await self._write(
                        keys=[STATUS_KEY, key(status.lane)],
                        args=[self.server, status.lane, data],
                        client=pipe,
                    )
                await pipe.execute()
        except RedisError:
            self._unpublished = statuses | self._unpublished  # newer ones win
            raise

    def _heard(self, data: bytes) -> None:
        try:
            report = open_as(data, StatusReport)
        except EnvelopeError as exc:
            log.warning("lane.status.refused error=%s", exc)
            return
        if report.sender != self.server:
            self._take_in(report.sender, report.body.status)

    def _take_in(self, server: str, status: LaneStatus) -> None:
        known = self._remote.get(status.lane)
        if not status.online and known is not None and known[0] != server and known[1].online:
            return  # an old server's goodbye, after the lane came up on another
        self._remote[status.lane] = (server, status)
        if not self.hub.status(status.lane).online:
            self._tell(status)

    async def _check_holders(self) -> None:
        seen = {lane: server for lane, (server, s) in self._remote.items() if s.online}
        if not seen:
            return
        leases = await self.holding.store.holders(list(seen))
        for lane in stale_holders(seen, leases):
            # What was seen may have changed while Redis answered: the lane came online
            # here (and is no longer another's), or another server told of it since.
            known = self._remote.get(lane)
            if known is None or known[0] != seen[lane] or not known[1].online:
                continue
            if self.hub.status(lane).online:
                continue
            server, status = known
            log.info("lane.status.holder_lost lane=%s server=%s", lane, server)
            self._take_in(server, replace(status, online=False, gate=GateState.UNKNOWN, faults=()))

    async def _reload(self) -> None:
        """Redis is back: write this server's lanes again, read the others'."""
        for lane in self.hub.online():
            self._unpublished[lane] = self.hub.status(lane)
        await self._flush()
        for field, data in (await self.link.client.hgetall(STATUS_KEY)).items():
            try:
                report = open_as(data, StatusReport)
            except EnvelopeError as exc:
                log.warning("lane.status.refused lane=%r error=%s", field, exc)
                continue
            server, status = report.sender, report.body.status
            if server != self.server and self._remote.get(status.lane) != (server, status):
                self._take_in(server, status)
        await self._check_holders()

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def _seconds(value: object, most: float) -> TypeGuard[int | float]:
    """A wait another server asks for: a finite number of seconds in (0, ``most``] (a
    bool is not one, nor is a wait that would hold a command here for ever)."""
    return (
        isinstance(value, int | float)
        and not isinstance(value, bool)
        and math.isfinite(value)
        and 0 < value <= most
    )


def _slack(remaining: float) -> float:
    return min(0.25, remaining / 4)


def _centre_message(raw: object) -> Message | None:
    if not isinstance(raw, str):
        return None
    try:
        return parse_centre_message(raw)
    except LinkError:
        return None
