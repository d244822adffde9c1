"""Who the lane's push server lets in, decided at accept before a byte is read.

The server is on the lane's LAN, where anything may connect. A connection from an
address that is not one of the listener's devices is never more than a short 403, and
strangers together have a budget of their own, so however many of them connect (or
hold their connections open), a device's push is still read and answered. Each device
has its own small budget as well: a camera pushes one car at a time, and polls between
cars, so a few connections at once are all it needs, and more from its address are not
the camera behaving as one.

Pure: counts and rules, no sockets, so they are tested alone.
"""

from __future__ import annotations

import enum
import ipaddress
from collections import Counter, OrderedDict
from collections.abc import Collection
from dataclasses import dataclass


class Verdict(enum.Enum):
    ADMIT = "admit"  # a device's connection, within its budget: read its requests
    REFUSE = "refuse"  # a stranger, within the strangers' budget: a 403, then closed
    DROP = "drop"  # over a budget: closed at once, nothing written


@dataclass(frozen=True, slots=True)
class Caps:
    """Connections open at once."""

    per_device: int = 6  # from one device's address
    per_stranger: int = 2  # from one address that is not a device's
    strangers: int = 16  # from all such addresses together


CAPS = Caps()


@dataclass(frozen=True, slots=True)
class Admitted:
    """A connection's verdict and the address it is counted under."""

    peer: str
    verdict: Verdict
    reason: str  # for the log: device, stranger, device_busy, stranger_busy, strangers_busy


class Admission:
    """The open connections of one listener, counted by address."""

    def __init__(self, devices: Collection[str], caps: Caps) -> None:
        self._devices = devices
        self.caps = caps
        self._open: Counter[str] = Counter()
        self._strangers = 0

    def admit(self, raw_peer: str) -> Admitted:
        peer = peer_address(raw_peer)
        if peer in self._devices:
            if self._open[peer] >= self.caps.per_device:
                return Admitted(peer, Verdict.DROP, "device_busy")
            self._open[peer] += 1
            return Admitted(peer, Verdict.ADMIT, "device")
        if self._strangers >= self.caps.strangers:
            return Admitted(peer, Verdict.DROP, "strangers_busy")
        if self._open[peer] >= self.caps.per_stranger:
            return Admitted(peer, Verdict.DROP, "stranger_busy")
        self._open[peer] += 1
        self._strangers += 1
        return Admitted(peer, Verdict.REFUSE, "stranger")

    def release(self, admitted: Admitted) -> None:
        """The connection ``admit`` counted has closed."""
        if admitted.verdict is Verdict.DROP:
            return
        self._open[admitted.peer] -= 1
        if self._open[admitted.peer] <= 0:
            del self._open[admitted.peer]
        if admitted.verdict is Verdict.REFUSE:
            self._strangers -= 1

    def open(self, peer: str) -> int:
        return self._open[peer]


class Quieted:
    """Whether to log one more refusal of ``key`` now: the first at once, then at most
    one line every ``every_s`` saying how many it stands for, so a stranger hammering
    the port cannot flood the lane's log. At most ``keep`` keys are held, the oldest
    let go first, so addresses rotated by the thousand cost neither memory nor time
    (one let go early is logged again sooner, which is harmless)."""

    def __init__(self, every_s: float = 60.0, keep: int = 1024) -> None:
        self.every_s = every_s
        self.keep = keep
        # key -> (last logged, held back since), oldest logged first
        self._since: OrderedDict[str, tuple[float, int]] = OrderedDict()

    def note(self, key: str, now: float) -> int | None:
        """The refusals this line stands for (this one with those held back), or None
        to hold this one back."""
        logged, held = self._since.get(key, (float("-inf"), 0))
        if now - logged < self.every_s:
            self._since[key] = (logged, held + 1)
            return None
        self._since.pop(key, None)
        while len(self._since) >= self.keep:
            self._since.popitem(last=False)
        self._since[key] = (now, 0)
        return held + 1


def peer_address(raw: str) -> str:
    """The address a lane file would name: a listener on ``::`` sees an IPv4 camera as
    ``::ffff:10.0.0.5``, which is 10.0.0.5."""
    try:
        address = ipaddress.ip_address(raw)
    except ValueError:
        return raw
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return raw


def body_deadline(started: float, received: int, grace_s: float, min_rate: int) -> float:
    """When more than ``received`` bytes of a body begun at ``started`` must have come:
    after a grace, the body must keep up ``min_rate`` bytes a second on average, so a
    sender trickling a byte at a time is cut off however long its body claims to be."""
    return started + grace_s + received / min_rate
