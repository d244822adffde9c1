"""Which centre a lane dials next, and when it must wait first; no I/O.

A lane may be given several centres (several URLs, or a name with several addresses),
all of them one centre to the lane. It stays on the one that works. When that one is
lost, or a dial fails, the next is tried at once: a dead centre must not cost a backoff
before a live one is tried. Only when every one has failed since the last that worked
does the lane wait, with the backoff it always had (``gates.backoff``).

Which centre is next is the lane's own (``dial_order``): lanes given the same centres
do not all move to the same one when theirs dies, but spread over the others.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

T = TypeVar("T")


def dial_order(lane: str, centres: Sequence[str]) -> list[str]:
    """The order in which ``lane`` dials ``centres``: the first named first, the lane's
    home as its operator chose it (with one server answering the consoles, the one all
    lanes are on); then the others by rendezvous hashing of the lane's id with each, so
    when a centre dies its lanes spread evenly over the rest, rather than every one of
    them onto the same next centre at once. The order depends on the lane's id and the
    URLs alone: the same after every restart, whatever order the others are listed
    in, and a centre added or removed moves only the lanes whose turn it takes."""
    if not centres:
        raise ValueError("a lane needs at least one centre to dial")
    first, *others = centres
    return [first, *sorted(others, key=lambda centre: _weight(lane, centre))]


def _weight(lane: str, centre: str) -> bytes:
    # A cryptographic hash, not ``hash()``: Python salts that anew in every process.
    return hashlib.blake2b(f"{lane}\n{centre}".encode(), digest_size=8).digest()


@dataclass
class Rotation(Generic[T]):
    """The dial order over ``targets``, which ``renew`` replaces at the start of each
    round (names are resolved again then: a centre moved by DNS is found)."""

    targets: list[T] = field(default_factory=list)
    position: int = 0
    # Targets that failed, or were lost, since one last came online.
    misses: int = 0

    @property
    def starting(self) -> bool:
        """No target has failed since the last success or wait: a new round begins,
        the time to resolve the names again."""
        return self.misses == 0

    @property
    def current(self) -> T:
        if not self.targets:
            raise LookupError("no centre to dial")
        return self.targets[self.position]

    def renew(self, targets: Sequence[T]) -> None:
        """Dial ``targets`` from now on, staying on the current one if it is among them."""
        if not targets:
            raise ValueError("a lane needs at least one centre to dial")
        kept = self.targets[self.position] if self.targets else None
        self.targets = list(targets)
        self.position = self.targets.index(kept) if kept in self.targets else 0

    def online(self) -> None:
        """The current target welcomed the lane: it is the one to stay on."""
        self.misses = 0

    def missed(self) -> bool:
        """The current target failed to connect, or its link was lost: move to the next.
        True when every target has now failed since the last success: wait (back off)
        before dialling again, and start a new round."""
        self.misses += 1
        self.position = (self.position + 1) % len(self.targets)
        if self.misses < len(self.targets):
            return False
        self.misses = 0
        return True
