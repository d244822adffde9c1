"""Login throttling: who may try a password now, and when guessing becomes an attack.

Pure: the caller passes the time (``time.monotonic()`` seconds) and carries out what
comes back. Three counts of recent failures are kept:

- per (username, address): the owner of an account who mistypes, or a guesser at one
  address. After ``pair_free`` failures that pair is locked for ``base_s``, doubling
  with each further failure up to ``max_s``. A success clears it.
- per address: one address sweeping many accounts. After ``address_free`` failures
  (higher, because several people may share an office's address) the address is locked
  the same way, for every account. A success does not clear it, or a guesser holding
  one real account could reset it between guesses.
- per username, from anywhere: never a lock. Any per-account lock that a clean address
  also hits lets anyone who knows a username lock a 24/7 agent out by failing on
  purpose from a few addresses. So an account with ``user_alarm`` failures is "under
  attack": each address may then try it only ``pair_free_under_attack`` times before
  its pair is locked (a distributed guesser needs ``pair_free`` times the addresses),
  while an address that has not failed for it still gets its password checked, and
  supervisors are alerted.

Counts are forgotten after ``forget_s`` without a failure. Checks still running count
against their pair, so guesses sent all at once get no more checks than one by one.

The rules (``ThrottleRules``) decide from counts wherever they are kept: here in one
server's memory (``LoginThrottle``), or in Redis for the servers of one centre
(``console.cluster.throttle``), which keeps the same counts and asks the same rules.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Protocol, TypeVar

K = TypeVar("K")

# A pair's attempt waits this long when its allowance is taken up by checks still in
# flight: they end within about a second, and then it is known whether a lock follows.
IN_FLIGHT_WAIT_S = 1.0
# The table of counts is swept at most this often: a sweep walks every entry.
SWEEP_EVERY_S = 60.0


class AlarmTrigger(enum.StrEnum):
    USERNAME = "username"  # one account failed from anywhere
    ADDRESS = "address"  # one address failed on any accounts


@dataclass(frozen=True, slots=True)
class Alarm:
    """A brute-force attempt worth a supervisor's attention."""

    trigger: AlarmTrigger
    username: str
    address: str
    user_failures: int
    address_failures: int

    def detail(self) -> dict[str, Any]:
        return {
            "trigger": self.trigger.value,
            "username": self.username,
            "remote": self.address,
            "user_failures": self.user_failures,
            "address_failures": self.address_failures,
        }


class Counts(Protocol):
    """A pair's, an account's or an address's recent failures, wherever kept."""

    @property
    def failures(self) -> int: ...

    @property
    def last_failed(self) -> float: ...


@dataclass(frozen=True, slots=True)
class Kept:
    """Counts as read back from where they are kept."""

    failures: int
    last_failed: float


@dataclass(frozen=True, slots=True)
class ThrottleRules:
    pair_free: int = 5
    pair_free_under_attack: int = 1
    address_free: int = 20
    user_alarm: int = 10
    base_s: float = 30.0
    max_s: float = 900.0
    forget_s: float = 1800.0

    def under_attack(self, user: Counts | None) -> bool:
        return user is not None and user.failures >= self.user_alarm

    def wait(
        self,
        pair: Counts | None,
        checking: int,
        user: Counts | None,
        address: Counts | None,
        now: float,
    ) -> float:
        """Seconds the pair must wait before it may try, with ``checking`` of its checks
        in flight; 0: it may try now."""
        free = self.pair_free_under_attack if self.under_attack(user) else self.pair_free
        return max(
            self._wait(pair, checking, free, now),
            self._wait(address, None, self.address_free, now),
        )

    def alarms(
        self, username: str, address: str, user_failures: int, address_failures: int
    ) -> list[Alarm]:
        """When an account's or an address's failures reach their threshold, and again
        at each doubling, so a long attack is reported without one alarm per guess."""
        return [
            Alarm(trigger, username, address, user_failures, address_failures)
            for trigger, count, threshold in (
                (AlarmTrigger.USERNAME, user_failures, self.user_alarm),
                (AlarmTrigger.ADDRESS, address_failures, self.address_free),
            )
            if _milestone(count, threshold)
        ]

    def _lock_s(self, over: int) -> float:
        """The lock after the ``over``-th failure past the free ones (0 = the first)."""
        return self.base_s * 2 ** min(over, 32) if over >= 0 else 0.0

    def _wait(self, counts: Counts | None, checking: int | None, free: int, now: float) -> float:
        """``checking`` None: checks in flight do not count (an address's)."""
        counts = counts or _NO_FAILURES
        over = counts.failures - free
        left = counts.last_failed + min(self.max_s, self._lock_s(over)) - now
        if left > 0:
            return left
        # Unlocked: the free attempts left, or one at a time once past them.
        if checking is not None and checking >= max(free - counts.failures, 1):
            return IN_FLIGHT_WAIT_S
        return 0.0


_NO_FAILURES = Kept(0, float("-inf"))


@dataclass(slots=True)
class _Record:
    failures: int = 0
    last_failed: float = 0.0
    checking: int = 0  # admitted and not yet settled


@dataclass
class LoginThrottle:
    """The counts in one server's memory."""

    rules: ThrottleRules = field(default_factory=ThrottleRules)
    _pairs: dict[tuple[str, str], _Record] = field(default_factory=dict)
    _addresses: dict[str, _Record] = field(default_factory=dict)
    _users: dict[str, _Record] = field(default_factory=dict)
    _swept: float = float("-inf")

    def under_attack(self, username: str) -> bool:
        return self.rules.under_attack(self._users.get(username))

    def admit(self, username: str, address: str, now: float) -> float:
        """Seconds to wait before this pair may try; 0 means admitted, and exactly one
        of :meth:`failed`, :meth:`succeeded` or :meth:`abandoned` must follow."""
        pair = self._pairs.get((username, address))
        checking = 0 if pair is None else pair.checking
        users, addresses = self._users.get(username), self._addresses.get(address)
        wait = self.rules.wait(pair, checking, users, addresses, now)
        if wait > 0:
            return wait
        self._pairs.setdefault((username, address), _Record()).checking += 1
        return 0.0

    def failed(self, username: str, address: str, now: float) -> list[Alarm]:
        """The admitted attempt had a wrong password (or no such account). Returns the
        alarms it raised (``ThrottleRules.alarms``)."""
        pair = self._settle(username, address)
        user = self._users.setdefault(username, _Record())
        where = self._addresses.setdefault(address, _Record())
        for record in (pair, user, where):
            record.failures += 1
            record.last_failed = now
        alarms = self.rules.alarms(username, address, user.failures, where.failures)
        self._sweep(now)
        return alarms

    def succeeded(self, username: str, address: str) -> None:
        """The admitted attempt proved the password: its pair starts afresh."""
        pair = self._settle(username, address)
        pair.failures = 0
        if pair.checking == 0:
            del self._pairs[(username, address)]

    def abandoned(self, username: str, address: str) -> None:
        """The admitted attempt ended without a check (the centre was busy, the client
        went away): it counts for nothing."""
        pair = self._settle(username, address)
        if pair.checking == 0 and pair.failures == 0:
            del self._pairs[(username, address)]

    def __len__(self) -> int:
        return len(self._pairs) + len(self._addresses) + len(self._users)

    def _settle(self, username: str, address: str) -> _Record:
        pair = self._pairs[(username, address)]
        pair.checking -= 1
        return pair

    def _sweep(self, now: float) -> None:
        if now - self._swept < SWEEP_EVERY_S:
            return
        self._swept = now
        before = now - self.rules.forget_s
        _forget(self._pairs, before)
        _forget(self._addresses, before)
        _forget(self._users, before)


def _forget(table: dict[K, _Record], before: float) -> None:
    """Drop the records with nothing in flight whose last failure was before ``before``."""
    for key in [k for k, r in table.items() if r.checking == 0 and r.last_failed < before]:
        del table[key]


def _milestone(count: int, threshold: int) -> bool:
    """``count`` is ``threshold`` times a power of two."""
    ratio, rest = divmod(count, threshold)
    return rest == 0 and ratio > 0 and ratio & (ratio - 1) == 0


@dataclass(frozen=True, slots=True)
class Admission:
    """The throttle's answer to an attempt: wait ``wait`` seconds, or (0) go on, and
    then exactly one of ``failed``, ``succeeded`` or ``abandoned`` must follow."""

    username: str
    address: str
    wait: float
    ticket: str = ""  # this attempt among its pair's checks in flight, where counts are shared


class Throttle(Protocol):
    """Where the counts are kept: ``LocalThrottle``, or Redis (``console.cluster``)."""

    async def admit(self, username: str, address: str) -> Admission: ...

    async def failed(self, attempt: Admission) -> list[Alarm]: ...

    async def succeeded(self, attempt: Admission) -> None: ...

    async def abandoned(self, attempt: Admission) -> None: ...


class LocalThrottle:
    """The counts of one server, in its memory, on its monotonic clock."""

    def __init__(
        self, counts: LoginThrottle | None = None, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.counts = counts or LoginThrottle()
        self._clock = clock

    async def admit(self, username: str, address: str) -> Admission:
        return Admission(username, address, self.counts.admit(username, address, self._clock()))

    async def failed(self, attempt: Admission) -> list[Alarm]:
        return self.counts.failed(attempt.username, attempt.address, self._clock())

    async def succeeded(self, attempt: Admission) -> None:
        self.counts.succeeded(attempt.username, attempt.address)

    async def abandoned(self, attempt: Admission) -> None:
        self.counts.abandoned(attempt.username, attempt.address)
