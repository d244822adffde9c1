"""Signed checkpoints while the centre runs, kept off the audit path.

Gate commands wait for their audit entries, so an append only tells the schedule the
new count (no I/O, no lock); a task signs the head and appends it to the anchor file
(``fsync``) in a thread when the schedule says, and once more when the centre stops.
The head is read back from the store, never taken from an append in flight, so a
checkpoint only ever covers entries already durable: after a power cut the ledger
may hold more than the newest checkpoint, never less.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from datetime import UTC, datetime

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey

from .checkpoints import AnchorSchedule, Checkpoint, key_id
from .errors import ConsoleError
from .ledger import GENESIS_HASH, AuditEntry
from .ledger_check import sign_head, sign_with_key
from .settings import Settings
from .store import Store

log = logging.getLogger("seat.audit")


def _utc_now() -> datetime:
    return datetime.now(UTC)


class Anchoring:
    def __init__(
        self,
        store: Store,
        settings: Settings,
        *,
        clock: Callable[[], float] = time.monotonic,
        now: Callable[[], datetime] = _utc_now,
    ) -> None:
        self._store = store
        self._settings = settings
        self._clock = clock
        self._now = now
        self._schedule = AnchorSchedule(settings.audit_anchor_entries, settings.audit_anchor_s, 0)
        self._wake = asyncio.Event()
        self._signed = asyncio.Condition()
        self._key: Ed25519PrivateKey | None = None
        self._task: asyncio.Task[None] | None = None

    async def start(self) -> str:
        """Loads the signing key (making it on first use) and at once signs the head as
        the check before the start found it, in one step, so that a key never stands
        without a checkpoint. Returns the key's id. A failure fails the start: a
        mistyped ``SEAT_AUDIT_ANCHOR`` is found now, not in the logs a day later."""
        count, head = await self._head()

        key, _ = await asyncio.to_thread(sign_with_key, self._settings, count, head, self._now())
        self._key = key
        await self._signed_up_to(count)
        return key_id(key.public_key())

    async def run(self) -> None:
        """Signs what the start added, then keeps signing as the schedule says."""
        await self._sign(only_if_moved=True)
        self._task = asyncio.create_task(self._run(), name="seat-audit-anchoring")

    async def covered(self, count: int) -> None:
        """Returns once a checkpoint written here covers the first ``count`` entries."""
        async with self._signed:
            await self._signed.wait_for(lambda: self._schedule.signed >= count)

    def note(self, entry: AuditEntry) -> None:
        """An append: called on the audit path, so it only counts."""
        if self._schedule.noted(entry.seq, self._clock()):
            self._wake.set()

    async def close(self) -> None:
        """Signs whatever the last checkpoint does not cover yet."""
        if self._task is None:
            return
        self._task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._task
        self._task = None
        try:
            await self._sign(only_if_moved=True)
        except (OSError, ConsoleError) as exc:
            log.error("audit.anchor.failed at=close path=%s error=%r", self._anchor, exc)

    @property
    def _anchor(self) -> str:
        return str(self._settings.anchor_file)

    async def _run(self) -> None:
        while True:
            self._wake.clear()
            wait = self._schedule.wait_s(self._clock())
            if wait is None or wait > 0:
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(wait):
                        await self._wake.wait()
                continue
            try:
                await self._sign()
            except Exception as exc:
                # The ledger itself is fine; its newest entries stay uncovered until a
                # retry succeeds, and the log says so each time it does not.
                log.error("audit.anchor.failed path=%s error=%r", self._anchor, exc)
                self._schedule.failed(self._clock())

    async def _sign(self, *, only_if_moved: bool = False) -> Checkpoint | None:
        assert self._key is not None, "start() first"
        count, head = await self._head()
        if only_if_moved and count <= self._schedule.signed:
            return None
        checkpoint = await asyncio.to_thread(
            sign_head, self._key, self._settings.anchor_file, count, head, self._now()
        )
        await self._signed_up_to(count)
        return checkpoint

    async def _signed_up_to(self, count: int) -> None:
        self._schedule.signed_up_to(count, self._clock())
        async with self._signed:
            self._signed.notify_all()

    async def _head(self) -> tuple[int, str]:
        page = await self._store.audit_page(1)
        return (page[0].seq, page[0].hash) if page else (0, GENESIS_HASH)
