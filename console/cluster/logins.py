"""Ended logins, told to every server of the centre at once.

A logout, or an account's password, role or state changed (``seat user ...``), is
written to the store with a row in its change feed, which every server polls
(``console.changes``): the streams and live views of that login end there within the
poll. Told on ``CHANNEL`` as well, they end at once: the message names only what
changed (an account, or a session by its token's hash) and each server reads the
store again for it, as the poll would, so a message never says more than the store
and one that arrives twice, or before the poll, changes nothing twice.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterable

import redis.asyncio as redis
from redis.exceptions import RedisError

from ..changes import ChangeFeed
from ..models import Change, ChangeKind
from .envelope import Envelope, EnvelopeError, open_envelope, seal
from .redis_link import COMMAND_TIMEOUT_S, RedisLink, server_id

log = logging.getLogger("seat.cluster")

CHANNEL = "seat:sessions:ended"
# What ends a login: an account changed or logged out everywhere, or one session.
_KINDS = frozenset({ChangeKind.USER.value, ChangeKind.SESSION.value})


def notice(sender: str, kind: ChangeKind, subject: str) -> bytes:
    return seal(sender, kind.value, {"subject": subject})


def read_notice(data: bytes) -> tuple[Envelope, ChangeKind, str]:
    envelope = open_envelope(data, _KINDS)
    return envelope, ChangeKind(envelope.kind), envelope.text("subject")


def telling(changes: Iterable[Change]) -> list[Change]:
    """The changes that end logins, the ones worth telling at once."""
    return [change for change in changes if change.kind.value in _KINDS]


class EndedLogins:
    """One per server: tells the others of the logins it ends; ends those they tell of."""

    def __init__(self, link: RedisLink | None, feed: ChangeFeed) -> None:
        self.link = link
        self.feed = feed
        self._running: set[asyncio.Task[None]] = set()
        if link is not None:
            link.subscribe(CHANNEL, self._heard)

    async def tell(self, kind: ChangeKind, subject: str) -> None:
        """After the change is written. Unreachable Redis is logged, not raised: the
        change stands, and the other servers' change feeds bring it within their poll."""
        if self.link is None:
            return
        try:
            await self.link.publish(CHANNEL, notice(self.link.server, kind, subject))
        except (RedisError, OSError) as exc:
            log.warning("cluster.logins.untold kind=%s error=%r", kind.value, exc)

    def _heard(self, data: bytes) -> None:
        try:
            envelope, kind, subject = read_notice(data)
        except EnvelopeError as exc:
            log.error("cluster.logins.refused error=%s", exc)
            return
        if self.link is not None and envelope.sender == self.link.server:
            return  # ended here already
        task = asyncio.create_task(self._apply(envelope.sender, kind, subject))
        self._running.add(task)
        task.add_done_callback(self._running.discard)

    async def _apply(self, sender: str, kind: ChangeKind, subject: str) -> None:
        try:
            await self.feed.heard(kind, subject)
        except Exception:
            # The poll applies it in a second; one bad read must not silence the channel.
            log.exception("cluster.logins.failed sender=%s kind=%s", sender, kind.value)

    async def close(self) -> None:
        if self._running:
            await asyncio.wait(self._running)


async def tell_from_cli(url: str, changes: list[Change]) -> None:
    """The ``seat`` CLI's changes that end logins, told to the running servers: the CLI
    is not a server and has no link, so a client of its own. Raises ``RedisError`` (or
    ``OSError``)."""
    told = telling(changes)
    if not told:
        return
    client: redis.Redis = redis.Redis.from_url(
        url, socket_timeout=COMMAND_TIMEOUT_S, socket_connect_timeout=COMMAND_TIMEOUT_S
    )
    sender = f"cli-{server_id()}"
    try:
        for change in told:
            await client.publish(CHANNEL, notice(sender, change.kind, change.subject))
    finally:
        await client.aclose()
