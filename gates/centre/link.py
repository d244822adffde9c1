"""The centre's side of one lane connection, as a state machine with no I/O.

The hub feeds it what arrived and the time; it answers with what to do: send a
message, close with a code, check the lane's credentials, or hand a message on. A
message that breaks a rule gets an ``error`` reply and changes nothing here.
"""

from __future__ import annotations

import enum
from dataclasses import dataclass, field

from gates.centre.bucket import TokenBucket
from gates.errors import LinkError, OutOfOrder, RateLimited
from gates.protocol import (
    MAX_DISPLAY,
    VERSION,
    CloseCode,
    DeviceInfo,
    Error,
    Hello,
    LaneMessage,
    Welcome,
    message_type,
    parse_lane_message,
)
from gates.wire import Message


@dataclass(frozen=True, slots=True)
class HeartbeatPolicy:
    """The lane proposes an interval; the centre clamps it. A lane is offline once
    ``grace`` intervals pass without a message from it: 2.5 x 5 s keeps the console
    within the operator's 15 s to show a lane offline, while one late heartbeat on a
    4G link does not flap it."""

    min_ms: int = 1000
    max_ms: int = 5000
    grace: float = 2.5
    hello_timeout_s: float = 10.0

    def negotiate(self, proposed_ms: int) -> int:
        return max(self.min_ms, min(self.max_ms, proposed_ms))

    def timeout_s(self, interval_ms: int) -> float:
        return interval_ms * self.grace / 1000.0


@dataclass(frozen=True, slots=True)
class RatePolicy:
    """How many frames a lane may send: ``per_s`` a second, ``burst`` at once, and how
    many the centre reads from it at all: ``read_per_s``, past which TCP holds them.

    Sized so a real lane never meets them: a busy exit lane sends about two frames a
    second (a car every few seconds is a vehicle and four gate states; acks, ends and
    heartbeats come one at a time) and, after a reconnect, some twenty at once (its
    gate, its standing faults, up to 16 vehicles and calls it saw offline). A lane over
    them is a broken or hostile client. Frames past ``per_s`` are refused; reading them
    costs the centre little, and ``read_per_s`` bounds even that, so one lane cannot
    take the event loop from the others however fast it sends."""

    per_s: float = 20.0
    burst: int = 100
    read_per_s: float = 1000.0


@dataclass(slots=True)
class Takeovers:
    """When a newer connection replaced a lane's older one, so the centre can show it.

    One takeover is routine (a controller that rebooted, or whose 4G address changed,
    reconnects before its old connection is seen dead), so the count over a window is
    what tells: more than one in it means two agents share a token, or a lane client
    redials after 4409 when it must not."""

    window_s: float = 600.0
    _times: dict[str, list[float]] = field(default_factory=dict)

    def record(self, lane: str, now: float) -> int:
        """Count a takeover of ``lane``; returns how many fall within the window."""
        recent = [*self._recent(lane, now), now]
        self._times[lane] = recent
        return len(recent)

    def faded(self, lane: str, now: float) -> bool:
        """True once no takeover of ``lane`` is left within the window."""
        recent = self._recent(lane, now)
        if recent:
            self._times[lane] = recent
            return False
        self._times.pop(lane, None)
        return True

    def _recent(self, lane: str, now: float) -> list[float]:
        return [at for at in self._times.get(lane, ()) if at > now - self.window_s]


@dataclass(frozen=True, slots=True)
class Send:
    message: Message


@dataclass(frozen=True, slots=True)
class Close:
    code: CloseCode
    reason: str


@dataclass(frozen=True, slots=True)
class Authenticate:
    """Check ``hello`` against the lane registry, then call ``accept`` or ``refuse``."""

    hello: Hello


@dataclass(frozen=True, slots=True)
class Deliver:
    """A valid message from an authenticated lane, for the hub to act on."""

    message: LaneMessage


@dataclass(frozen=True, slots=True)
class Flooding:
    """For the centre's log: ``refused`` frames of this connection so far were over its
    rate. Reported at most once a second, however fast the lane sends."""

    refused: int


Action = Send | Close | Authenticate | Deliver | Flooding

FLOODING_REPORT_S = 1.0
READ_BATCH = 10
REPLIES_PER_COMMAND = 2  # ack, then done or refused


class Phase(enum.Enum):
    AWAITING_HELLO = "awaiting_hello"
    AUTHENTICATING = "authenticating"
    OPEN = "open"
    CLOSED = "closed"


class LinkSession:
    def __init__(
        self, now: float, policy: HeartbeatPolicy | None = None, rate: RatePolicy | None = None
    ) -> None:
        self.policy = policy or HeartbeatPolicy()
        self.rate = rate or RatePolicy()
        self.phase = Phase.AWAITING_HELLO
        self.lane: str | None = None
        self.heartbeat_ms = 0
        self.display = MAX_DISPLAY  # the lane's stated display, else the protocol's most
        self.devices: tuple[DeviceInfo, ...] = ()  # as the lane stated them
        self.deadline = now + self.policy.hello_timeout_s
        # Every frame counts, whatever its type: a flood of heartbeats or of bad frames
        # (each of which earns an error reply) costs the centre as much as one of events.
        self._accepts = TokenBucket.full(self.rate.per_s, self.rate.burst, now)
        self._reads = TokenBucket.full(self.rate.read_per_s, self.rate.burst, now)
        self.refused = 0
        self._next_report = now
        limited = RateLimited(
            f"more than {self.rate.per_s:g} messages a second (bursts of {self.rate.burst}) "
            "from this lane; this one was dropped, not acted on"
        )
        self._rate_limited = Error(limited.code, limited.detail)
        # The hub reads the next frame no earlier than this.
        self.read_after = now

    def receive(self, raw: str | bytes, now: float) -> list[Action]:
        if self.phase is Phase.CLOSED:
            return []
        # The hub waited for ``read_after``, so there is a token to take. Once the bucket
        # is empty, reading resumes when a batch has refilled rather than frame by frame:
        # one wake-up per batch costs the event loop less than one per frame.
        self._reads.take(now)
        if self._reads.ready_at(now) > now:
            self.read_after = self._reads.ready_at(now, READ_BATCH)
        if not self._accepts.take(now):
            return self._refuse(now)
        try:
            message = parse_lane_message(raw)
        except LinkError as exc:
            if self.phase is Phase.AWAITING_HELLO:
                return self._close(CloseCode.PROTOCOL_ERROR, f"{exc.code}: {exc.detail}")
            return [Send(Error(exc.code, exc.detail, message_type(raw)))]
        if self.phase is Phase.AWAITING_HELLO:
            if not isinstance(message, Hello):
                return self._close(CloseCode.PROTOCOL_ERROR, "the first message must be hello")
            if message.v != VERSION:
                return self._close(
                    CloseCode.VERSION_UNSUPPORTED, f"protocol version {VERSION} only"
                )
            self.phase = Phase.AUTHENTICATING
            return [Authenticate(message)]
        if self.phase is Phase.AUTHENTICATING or isinstance(message, Hello):
            error = OutOfOrder(f"{message.TYPE} not allowed while {self.phase.value}")
            return [Send(Error(error.code, error.detail, message.TYPE))]
        self.deadline = now + self.policy.timeout_s(self.heartbeat_ms)
        return [Deliver(message)]

    def commanded(self) -> None:
        """The centre sent the lane a command: its ack and its end are on top of the
        lane's rate, since refusing the answer to its own question would turn a lift
        that happened into a ``timeout``."""
        self._accepts.grant(REPLIES_PER_COMMAND)

    def _refuse(self, now: float) -> list[Action]:
        """A frame over the rate: answered, not acted on, not a sign of life. Not even
        parsed (so ``ref`` is empty): refusing must cost less than accepting."""
        self.refused += 1
        actions: list[Action] = [Send(self._rate_limited)]
        if now >= self._next_report:
            self._next_report = now + FLOODING_REPORT_S
            actions.append(Flooding(self.refused))
        return actions

    def accept(self, hello: Hello, now: float) -> list[Action]:
        if self.phase is not Phase.AUTHENTICATING:
            raise RuntimeError(f"accept() while {self.phase.value}")
        self.phase = Phase.OPEN
        self.lane = hello.lane
        self.heartbeat_ms = self.policy.negotiate(hello.heartbeat_ms)
        self.display = hello.display or MAX_DISPLAY
        self.devices = hello.devices
        self.deadline = now + self.policy.timeout_s(self.heartbeat_ms)
        return [Send(Welcome(lane=hello.lane, heartbeat_ms=self.heartbeat_ms))]

    def refuse(self) -> list[Action]:
        # One reason for an unknown lane and a wrong token: the link must not tell a
        # prober which lane ids exist.
        return self._close(CloseCode.UNAUTHORISED, "unknown lane or wrong token")

    def replaced(self) -> list[Action]:
        return self._close(CloseCode.REPLACED, "another connection claimed this lane")

    def unavailable(self) -> list[Action]:
        return self._close(
            CloseCode.UNAVAILABLE, "this server cannot hold the lane now; dial again"
        )

    def expire(self, now: float) -> list[Action]:
        if self.phase is Phase.CLOSED or now < self.deadline:
            return []
        if self.phase is Phase.OPEN:
            return self._close(CloseCode.TIMEOUT, "heartbeat missed")
        return self._close(CloseCode.TIMEOUT, "no hello in time")

    def _close(self, code: CloseCode, reason: str) -> list[Action]:
        self.phase = Phase.CLOSED
        return [Close(code, reason)]
