"""A token bucket: at most ``burst`` at once, ``rate`` a second after that. Pure; the
caller passes the time, so a test can drive it with literals."""

from __future__ import annotations

from dataclasses import dataclass

# Refilling by elapsed x rate in floating point can land a hair short of a whole token
# at exactly the moment ``ready_at`` named; that moment must still count.
_EPSILON = 1e-9


@dataclass(slots=True)
class TokenBucket:
    rate: float
    burst: float
    tokens: float
    stamp: float

    @classmethod
    def full(cls, rate: float, burst: float, now: float) -> TokenBucket:
        return cls(rate, burst, burst, now)

    def take(self, now: float) -> bool:
        """Spend one token if there is one."""
        self._refill(now)
        if self.tokens + _EPSILON < 1.0:
            return False
        self.tokens = max(0.0, self.tokens - 1.0)
        return True

    def grant(self, tokens: float) -> None:
        """Add ``tokens`` for use on top of the burst: they are not lost to the cap."""
        self.tokens += tokens

    def ready_at(self, now: float, tokens: float = 1.0) -> float:
        """When ``tokens`` (at most ``burst``) will be there: ``now`` if they are."""
        self._refill(now)
        return now + max(0.0, min(tokens, self.burst) - self.tokens) / self.rate

    def _refill(self, now: float) -> None:
        elapsed = max(0.0, now - self.stamp)
        # Refilling stops at the burst but never takes away granted tokens above it.
        self.tokens = max(self.tokens, min(self.burst, self.tokens + elapsed * self.rate))
        self.stamp = max(self.stamp, now)
