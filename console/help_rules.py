"""The driver's help page's rules, with no I/O: who may place a call from a sticker, what
proves a phone is the one that placed a call, when a phone whose page went away has
hung up, and what the page is told of its call.

A help page needs no login, so anyone with a photo of a sticker can place calls from
anywhere. Three limits keep that from filling the agents' queue, each a token bucket
(``gates.centre.bucket``): calls placed from one client address, calls placed at one
lane, and offers of voice for one call (each is a peer connection at the centre). A
refusal says how long to wait and takes nothing from any bucket.

The phone that placed a call holds its *secret*, a capability derived from the sticker
key and the call id (an HMAC: nobody without the key can make one, and a centre that
restarted can recognise it again without storing it). Following the call, hanging it up
and talking on it need the secret.

A page follows its call over a WebSocket. A call whose page has had no stream open for
``gone_s`` (the tab was closed, the phone locked for good, the network lost) is hung up:
abandoned if nobody answered it, ended if someone did. The clock starts when the call is
placed, so a page that never opens its stream does not leave a call behind.

Pure: the caller passes the time (``time.monotonic()`` seconds) and carries out what
comes back.
"""

from __future__ import annotations

import base64
import enum
import hashlib
import hmac
import math
from dataclasses import dataclass, field
from typing import Any

from gates.centre.bucket import TokenBucket

from .calls.model import Call, CallState

# How long a phone's page may be away (no stream open) before its call is hung up.
GONE_S = 10.0
# A bucket full again is forgotten at the next sweep; sweeps walk every bucket.
SWEEP_EVERY_S = 60.0


@dataclass(frozen=True, slots=True)
class Limit:
    """``burst`` at once, then one more every ``every_s`` seconds."""

    burst: int
    every_s: float


# One phone places one call and perhaps a second after hanging up; an address behind a
# carrier's NAT may be several drivers, but rarely at one moment.
PER_ADDRESS = Limit(burst=3, every_s=60.0)
# A lane with more than a few drivers calling at once is being pranked.
PER_LANE = Limit(burst=5, every_s=12.0)
# A page offers its voice again when its connection fails; a flood of offers is not that.
OFFERS_PER_CALL = Limit(burst=5, every_s=10.0)


class Buckets:
    """One token bucket per key, all with the same limit; a bucket that has refilled is
    the same as none, and is forgotten."""

    def __init__(self, limit: Limit) -> None:
        self.limit = limit
        self._buckets: dict[str, TokenBucket] = {}
        self._swept = -math.inf

    def wait(self, key: str, now: float) -> float:
        """Seconds until ``key`` may go once more; 0 if it may now."""
        bucket = self._buckets.get(key)
        return 0.0 if bucket is None else bucket.ready_at(now) - now

    def take(self, key: str, now: float) -> None:
        """Spend one of ``key``'s; the caller checked ``wait`` first."""
        bucket = self._buckets.get(key)
        if bucket is None:
            rate = 1.0 / self.limit.every_s
            bucket = self._buckets[key] = TokenBucket.full(rate, self.limit.burst, now)
        bucket.take(now)
        self._sweep(now)

    def __len__(self) -> int:
        return len(self._buckets)

    def _sweep(self, now: float) -> None:
        if now - self._swept < SWEEP_EVERY_S:
            return
        self._swept = now
        full = [key for key, b in self._buckets.items() if b.ready_at(now, b.burst) <= now]
        for key in full:
            del self._buckets[key]


@dataclass
class HelpLimits:
    per_address: Buckets = field(default_factory=lambda: Buckets(PER_ADDRESS))
    per_lane: Buckets = field(default_factory=lambda: Buckets(PER_LANE))
    offers: Buckets = field(default_factory=lambda: Buckets(OFFERS_PER_CALL))

    def place(self, address: str, lane: str, now: float) -> float:
        """A call from ``address`` at ``lane``: 0 if it may be placed (and it is
        counted), else the seconds to wait (and nothing is counted)."""
        wait = max(self.per_address.wait(address, now), self.per_lane.wait(lane, now))
        if wait > 0:
            return wait
        self.per_address.take(address, now)
        self.per_lane.take(lane, now)
        return 0.0

    def offer(self, call_id: str, now: float) -> float:
        """An offer of voice for ``call_id``: 0 if it may be answered (and it is
        counted), else the seconds to wait."""
        wait = self.offers.wait(call_id, now)
        if wait > 0:
            return wait
        self.offers.take(call_id, now)
        return 0.0


def retry_after(wait: float) -> int:
    """``wait`` as a whole number of seconds for ``Retry-After``: never 0."""
    return max(1, math.ceil(wait))


# ------------------------------------------------------------------ the secret


def call_secret(key: bytes, call_id: str) -> str:
    """The capability of the phone that placed ``call_id``: 43 characters of base64url."""
    tag = hmac.digest(key, b"seat help call\0" + call_id.encode(), hashlib.sha256)
    return base64.urlsafe_b64encode(tag).rstrip(b"=").decode("ascii")


def secret_matches(key: bytes, call_id: str, secret: str) -> bool:
    return hmac.compare_digest(secret.encode(), call_secret(key, call_id).encode())


# ------------------------------------------------------------------ presence


@dataclass(slots=True)
class _Page:
    streams: int = 0
    gone_at: float | None = None  # no stream open since; None while one is


class Presence:
    """Which phone calls still have their page: a call is followed while at least one
    stream of its page is open, and hung up ``gone_s`` after the last one closed (or
    after it was placed, if none ever opened)."""

    def __init__(self, gone_s: float = GONE_S) -> None:
        self.gone_s = gone_s
        self._pages: dict[str, _Page] = {}

    def expect(self, call_id: str, now: float) -> None:
        """A call was placed (or found open after a restart): its page must come."""
        if call_id not in self._pages:
            self._pages[call_id] = _Page(gone_at=now)

    def opened(self, call_id: str) -> None:
        page = self._pages.setdefault(call_id, _Page())
        page.streams += 1
        page.gone_at = None

    def closed(self, call_id: str, now: float) -> None:
        page = self._pages.get(call_id)
        if page is None:
            return
        page.streams = max(0, page.streams - 1)
        if page.streams == 0:
            page.gone_at = now

    def streams(self, call_id: str) -> int:
        page = self._pages.get(call_id)
        return 0 if page is None else page.streams

    def forget(self, call_id: str) -> None:
        """The call is over: nothing more to wait for."""
        self._pages.pop(call_id, None)

    @property
    def deadline(self) -> float | None:
        times = [p.gone_at + self.gone_s for p in self._pages.values() if p.gone_at is not None]
        return min(times, default=None)

    def due(self, now: float) -> list[str]:
        """The calls whose page has been gone for ``gone_s``; they are forgotten."""
        gone = [
            call_id
            for call_id, page in self._pages.items()
            if page.gone_at is not None and page.gone_at + self.gone_s <= now
        ]
        for call_id in gone:
            del self._pages[call_id]
        return sorted(gone)


# ------------------------------------------------------------------ what the page is told


class PhoneState(enum.StrEnum):
    QUEUED = "queued"  # 排队中: waiting or being rung
    ANSWERED = "answered"  # 已接通
    ENDED = "ended"  # 已结束: by either side, answered or not


def phone_state(call: Call) -> PhoneState:
    if call.finished:
        return PhoneState.ENDED
    return PhoneState.ANSWERED if call.state is CallState.ACTIVE else PhoneState.QUEUED


def phone_view(call: Call, position: int | None) -> dict[str, Any]:
    """The call as the driver's page sees it: its state and place in the queue, never
    who answered it."""
    return {
        "call_id": call.id,
        "state": phone_state(call).value,
        "position": position,
        "ending": None if call.ending is None else call.ending.value,
    }
