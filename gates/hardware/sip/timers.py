"""When the lane sends a request of its own again over UDP, which loses datagrams and
says nothing: RFC 3261 §17.1.2.2's client transaction for a request other than INVITE
(the lane's OPTIONS and BYE). Timer E starts at T1 and doubles up to T2; once a
provisional (1xx) answer has come it is T2 at once; timer F (64·T1) ends the
transaction unanswered. Only the timing is here; the sending is ``intercom``'s and
``bye``'s."""

from __future__ import annotations

from dataclasses import dataclass, field

T1 = 0.5  # RFC 3261 §17.1.1.1: the round-trip estimate, the first wait
T2 = 4.0  # §17.1.2.2: the longest wait between two sends of a non-INVITE request


@dataclass
class TimerE:
    """The waits of one transaction. ``next()`` is asked after each send: how long to
    wait for a final answer before sending again, or None once timer F has fired (the
    last wait is cut so the waits add up to ``timeout``, which is timer F, 64·``t1``,
    unless a shorter one is given). Set ``proceeding`` when a 1xx comes."""

    t1: float = T1
    t2: float = T2
    timeout: float | None = None
    proceeding: bool = False
    _elapsed: float = field(default=0.0, init=False)
    _interval: float = field(default=0.0, init=False)

    def __post_init__(self) -> None:
        if not 0 < self.t1 <= self.t2:
            raise ValueError(f"timer E needs 0 < T1 <= T2, not T1={self.t1} T2={self.t2}")
        if self.timeout is None:
            self.timeout = 64 * self.t1
        elif self.timeout <= 0:
            raise ValueError(f"a transaction's timeout must be positive, not {self.timeout}")

    def next(self) -> float | None:
        assert self.timeout is not None  # set in __post_init__
        left = self.timeout - self._elapsed
        if left <= 1e-9:  # timer F: the sum of the waits, less what floats lose
            return None
        if self.proceeding:
            self._interval = self.t2
        elif self._interval:
            self._interval = min(2 * self._interval, self.t2)
        else:
            self._interval = self.t1
        wait = min(self._interval, left)
        self._elapsed += wait
        return wait


def retransmits(t1: float = T1, t2: float = T2, timeout: float | None = None) -> list[float]:
    """The waits of a transaction nobody answers: one per send, the first send's
    first, adding up to ``timeout`` (timer F by default)."""
    return list(iter(TimerE(t1, t2, timeout).next, None))
