"""Which server holds a lane: the rules of lane leases, with no I/O.

A lane's lease is a Redis key naming the server that holds the lane's link, with a
time to live. The holder renews all its leases in one round trip every quarter of
that time. Redis counts a lease's life from when it got the renewal, which is after
the server sent it, so the server counts from when it SENT its last renewal that
Redis confirmed: the lease cannot end before ``sent + ttl``. The server stops holding
the lane (closes its link, so the lane redials) at ``sent + ttl - margin``, before the
lease can end and another server can take it: no lane is ever held by two servers,
however Redis or the network between them fails.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from gates.centre.link import HeartbeatPolicy


@dataclass(frozen=True, slots=True)
class LeasePolicy:
    """``ttl_s``: a lease's life after its last renewal. Renewed every quarter of it, so
    two renewals may fail in a row before the holder lets go; the margin (a quarter)
    covers a renewal that reaches Redis late and the two clocks' drift over one ttl."""

    ttl_s: float

    def __post_init__(self) -> None:
        if not self.ttl_s > 0:
            raise ValueError(f"a lease's life must be more than 0 s, not {self.ttl_s!r}")

    @classmethod
    def for_heartbeat(cls, policy: HeartbeatPolicy) -> LeasePolicy:
        """As long as the centre waits for the slowest lane it allows before calling it
        offline: a dead server's lanes are free again as soon as a living server would
        have noticed them gone."""
        return cls(policy.timeout_s(policy.max_ms))

    @property
    def ttl_ms(self) -> int:
        return max(1, round(self.ttl_s * 1000))

    @property
    def renew_s(self) -> float:
        return self.ttl_s / 4

    @property
    def margin_s(self) -> float:
        return self.ttl_s / 4

    def safe_until(self, sent_at: float) -> float:
        """When a lease confirmed by a request sent at ``sent_at`` must be let go."""
        return sent_at + self.ttl_s - self.margin_s


@dataclass(slots=True)
class Tenure:
    """The leases this server holds, and until when each is safe to hold."""

    policy: LeasePolicy
    _until: dict[str, float] = field(default_factory=dict)

    @property
    def held(self) -> list[str]:
        return sorted(self._until)

    def holds(self, lane: str) -> bool:
        return lane in self._until

    def taken(self, lane: str, sent_at: float) -> None:
        """Redis gave this server ``lane``'s lease, asked at ``sent_at``."""
        self._until[lane] = self.policy.safe_until(sent_at)

    def renewed(self, lanes: list[str], sent_at: float) -> None:
        """Redis renewed these leases (ones let go meanwhile stay let go)."""
        until = self.policy.safe_until(sent_at)
        held = self._until
        for lane in lanes:
            current = held.get(lane)
            if current is not None and current < until:
                held[lane] = until

    def let_go(self, lane: str) -> None:
        self._until.pop(lane, None)

    def due(self, now: float) -> list[str]:
        """Leases past their safe time, now let go: their lanes' links must close."""
        lanes = sorted(lane for lane, until in self._until.items() if until <= now)
        for lane in lanes:
            del self._until[lane]
        return lanes

    def next_due(self) -> float | None:
        return min(self._until.values(), default=None)


def handover_wait_s(pttl_ms: int, policy: LeasePolicy) -> float:
    """How long a server that wants a lane waits before asking Redis again, when another
    server's lease on it has ``pttl_ms`` left (Redis: -1 no expiry, -2 gone): until it
    expires, and at least a moment, never past one ttl (a key without expiry is not a
    lease this code wrote; the asker then gives up)."""
    if pttl_ms < 0:
        return 0.0 if pttl_ms == -2 else policy.ttl_s
    return min(max(pttl_ms / 1000, 0.001), policy.ttl_s)


def stale_holders(seen: dict[str, str], leases: dict[str, str | None]) -> list[str]:
    """Lanes shown online as held by ``seen[lane]`` whose lease that server no longer
    holds (it died, or was cut off): they count as offline until a server has them."""
    return sorted(lane for lane, server in seen.items() if leases.get(lane) != server)
