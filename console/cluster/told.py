"""Changes to what every server caches or has let in, told to every server at once:
ended logins, and lanes added or re-keyed.

A logout, an account's password, role or state changed (``seat user ...``), or a lane
added or its token rotated (``seat lanes add``) is written to the store with a row in
its change feed, which every server polls (``console.changes``): each server acts on it
within the poll. Told on a channel as well (``CHANNELS``), it is acted on at once: the
message names only what changed (an account, a session by its token's hash, a lane)
and each server reads the store again for it, as the poll would, so a message never
says more than the store, and one that arrives twice, or before the poll, changes
nothing twice.
"""

from __future__ import annotations

import asyncio
import functools
import logging
from collections.abc import Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, ClassVar, Self

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..models import Change, ChangeKind
from .envelope import EnvelopeError, Fields, open_as, seal
from .redis_link import COMMAND_TIMEOUT_S, RedisLink, server_id

if TYPE_CHECKING:  # the seat CLI tells through this module, without the centre's parts
    from ..changes import ChangeFeed

log = logging.getLogger("seat.cluster")

SESSIONS = "seat:sessions:ended"  # an account changed or logged out everywhere, or one session
LANES = "seat:news:lanes"  # a lane added, renamed or re-keyed
CHANNELS = {ChangeKind.USER: SESSIONS, ChangeKind.SESSION: SESSIONS, ChangeKind.LANE: LANES}


@dataclass(frozen=True, slots=True)
class Notice:
    """What changed: ``subject`` names the account, session or lane ``change`` says."""

    KIND: ClassVar[str] = "change"

    change: ChangeKind
    subject: str

    def to_json(self) -> dict[str, Any]:
        return {"change": self.change.value, "subject": self.subject}

    @classmethod
    def from_fields(cls, fields: Fields) -> Self:
        return cls(fields.choice("change", ChangeKind), fields.text("subject"))


def notice(sender: str, kind: ChangeKind, subject: str) -> bytes:
    return seal(sender, Notice(kind, subject))


def read_notice(channel: str, data: bytes) -> tuple[str, Notice]:
    """The sender and a change of a kind told on ``channel``, else ``EnvelopeError``."""
    envelope = open_as(data, Notice)
    if CHANNELS[envelope.body.change] != channel:
        raise EnvelopeError(f"change: a {envelope.body.change.value} is not told on {channel}")
    return envelope.sender, envelope.body


class ToldChanges:
    """One per server: tells the others of what it changed; acts on what they tell of."""

    def __init__(self, link: RedisLink | None, feed: ChangeFeed) -> None:
        self.link = link
        self.feed = feed
        self._running: set[asyncio.Task[None]] = set()
        if link is not None:
            for channel in set(CHANNELS.values()):
                link.subscribe(channel, functools.partial(self._heard, channel))

    async def tell(self, kind: ChangeKind, subject: str) -> None:
        """After the change is written. Unreachable Redis is logged, not raised: the
        change stands, and the other servers' change feeds bring it within their poll."""
        if self.link is None:
            return
        try:
            await self.link.publish(CHANNELS[kind], notice(self.link.server, kind, subject))
        except (RedisError, OSError) as exc:
            log.warning("cluster.changes.untold kind=%s error=%r", kind.value, exc)

    def _heard(self, channel: str, data: bytes) -> None:
        try:
            sender, told = read_notice(channel, data)
        except EnvelopeError as exc:
            log.error("cluster.changes.refused channel=%s error=%s", channel, exc)
            return
        if self.link is not None and sender == self.link.server:
            return  # acted on here already
        task = asyncio.create_task(self._apply(sender, told.change, told.subject))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _apply(self, sender: str, kind: ChangeKind, subject: str) -> None:
        try:
            await self.feed.heard(kind, subject)
        except Exception:
            # The poll applies it in a second; one bad read must not silence the channel.
            log.exception("cluster.changes.failed sender=%s kind=%s", sender, kind.value)

    async def close(self) -> None:
        if self._running:
            await asyncio.wait(self._running)


async def tell_from_cli(url: str, changes: Iterable[Change]) -> None:
    """The ``seat`` CLI's changes, told to the running servers: the CLI is not a server
    and has no link, so a client of its own. Raises ``RedisError`` (or ``OSError``)."""
    told = list(changes)
    if not told:
        return
    client: redis.Redis = redis.Redis.from_url(
        url, socket_timeout=COMMAND_TIMEOUT_S, socket_connect_timeout=COMMAND_TIMEOUT_S
    )
    sender = f"cli-{server_id()}"
    try:
        for change in told:
            await client.publish(CHANNELS[change.kind], notice(sender, change.kind, change.subject))
    finally:
        await client.aclose()
