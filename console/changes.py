"""Changes made by other processes reach the running centre: the change feed's reader.

``seat user disable``, ``seat user passwd`` or ``seat lanes add`` on a running centre's
database run in a process of their own. They record what they changed in the store's
change feed (``Store.changes_since``) in the same transaction as the change; this reader
polls it and brings the centre up to date: the directory forgets what it cached, open
streams and live views of a login that no longer stands are ended, a lane whose token
was rotated loses its lane link and its media connection, and agents online (their calls
and their tabs' news) take up a change of the car parks they cover. SQLite tells no other
process of a commit, so the feed is polled: every second (``SEAT_CHANGE_POLL_S``), one
indexed query that finds nothing on a quiet day. With Redis, the servers of one centre
and the CLI also tell each other of a change at once (``heard``); the poll stays the
way every change arrives in the end, told or not.
"""

from __future__ import annotations

import asyncio
import logging
from datetime import UTC, datetime

from gates.centre.hub import LaneHub
from media.centre.bridge import MediaBridge

from .calls.service import CallService
from .directory import Directory
from .errors import StoreError
from .live import LiveLogins
from .models import ChangeKind, ChangesLost
from .store import Store
from .streams import Streams

log = logging.getLogger("seat.console")

POLL_S = 1.0


class ChangeFeed:
    def __init__(
        self,
        store: Store,
        directory: Directory,
        live: LiveLogins,
        hub: LaneHub,
        bridge: MediaBridge,
        streams: Streams,
        calls: CallService,
        poll_s: float = POLL_S,
    ) -> None:
        self.store = store
        self.directory = directory
        self.live = live
        self.hub = hub
        self.bridge = bridge
        self.streams = streams
        self.calls = calls
        self.poll_s = poll_s
        self._seq = 0

    async def start(self) -> None:
        """Changes before now are already in what the directory loads."""
        self._seq = await self.store.change_head()

    async def run(self) -> None:
        """Poll until cancelled. A poll that fails is logged and the next one tries
        again: revocation must not stop for the rest of a 24/7 run over one bad read."""
        while True:
            await asyncio.sleep(self.poll_s)  # the poll interval: SQLite has no notify
            try:
                await self.poll()
            except StoreError as exc:
                log.error("console.changes.read_failed error=%s", exc.detail)
            except Exception:
                log.exception("console.changes.failed")

    async def poll(self) -> None:
        try:
            changes = await self.store.changes_since(self._seq)
        except ChangesLost as exc:
            # Start afresh: everything cached and everyone connected is checked again.
            log.error("console.changes.lost after=%d oldest=%d", exc.seq, exc.oldest)
            head = await self.store.change_head()
            await self.directory.reload()
            await self.live.recheck(
                self.directory, datetime.now(UTC), usernames=self.live.usernames(), sessions=set()
            )
            await self._lanes_changed(set(self.hub.online()))
            await self.calls.users_changed(self.live.usernames())
            await self.streams.users_changed(self.live.usernames())
            self._seq = head
            return
        if not changes:
            return
        subjects = {kind: {c.subject for c in changes if c.kind is kind} for kind in ChangeKind}
        log.info(
            "console.changes.applied users=%d sessions=%d lanes=%d",
            *(len(subjects[kind]) for kind in ChangeKind),
        )
        await self._react(subjects)
        # Only now: a poll that failed half-way is tried again in full (all of it is
        # safe to repeat).
        self._seq = changes[-1].seq

    async def heard(self, kind: ChangeKind, subject: str) -> None:
        """Another process told of a change at once (``console.cluster.told``): it is
        applied now, not at the next poll, which applies it again to no effect."""
        log.info("console.changes.heard kind=%s", kind.value)
        await self._react({k: {subject} if k is kind else set() for k in ChangeKind})

    async def _react(self, subjects: dict[ChangeKind, set[str]]) -> None:
        await self.directory.forget((kind, s) for kind, names in subjects.items() for s in names)
        await self.live.recheck(
            self.directory,
            datetime.now(UTC),
            usernames=subjects[ChangeKind.USER],
            sessions=subjects[ChangeKind.SESSION],
        )
        await self._lanes_changed(subjects[ChangeKind.LANE])
        await self.calls.users_changed(subjects[ChangeKind.USER])
        await self.streams.users_changed(subjects[ChangeKind.USER])

    async def _lanes_changed(self, lanes: set[str]) -> None:
        for lane in lanes:
            await self.hub.reverify(lane)
            await self.bridge.reverify(lane)
            self.streams.lane_changed(lane)
