"""The centre's side of one lane connection, driven with literals and a fake clock."""

from __future__ import annotations

import pytest

from gates.centre.link import (
    Authenticate,
    Close,
    Deliver,
    Flooding,
    HeartbeatPolicy,
    LinkSession,
    Phase,
    RatePolicy,
    Send,
    Takeovers,
)
from gates.protocol import Ack, Call, CloseCode, Error, Gate, Heartbeat, Hello, Welcome
from gates.vocabulary import GateState

HELLO = '{"type":"hello","v":1,"lane":"P1-IN","token":"secret","heartbeat_ms":2000}'


def opened(now: float = 0.0) -> LinkSession:
    session = LinkSession(now)
    [auth] = session.receive(HELLO, now)
    assert isinstance(auth, Authenticate)
    session.accept(auth.hello, now)
    return session


def test_hello_asks_for_authentication_then_welcome_negotiates_heartbeat() -> None:
    """A valid hello is checked first; accepting it answers welcome with the interval."""
    session = LinkSession(0.0)
    actions = session.receive(HELLO, 0.0)
    assert actions == [Authenticate(Hello("P1-IN", "secret", 2000))]
    assert isinstance(actions[0], Authenticate)
    assert session.accept(actions[0].hello, 0.0) == [Send(Welcome("P1-IN", 2000))]
    assert session.phase is Phase.OPEN and session.lane == "P1-IN"


def test_heartbeat_proposal_is_clamped_to_the_policy() -> None:
    """A lane cannot make the centre wait a minute to notice it is gone."""
    session = LinkSession(0.0, HeartbeatPolicy(min_ms=1000, max_ms=5000))
    [auth] = session.receive(HELLO.replace("2000", "60000"), 0.0)
    assert isinstance(auth, Authenticate)
    assert session.accept(auth.hello, 0.0) == [Send(Welcome("P1-IN", 5000))]


def test_first_message_other_than_hello_closes_with_protocol_error() -> None:
    """Nothing is accepted from a connection before it says who it is."""
    session = LinkSession(0.0)
    assert session.receive('{"type":"heartbeat"}', 0.0) == [
        Close(CloseCode.PROTOCOL_ERROR, "the first message must be hello")
    ]
    assert session.phase is Phase.CLOSED


def test_garbage_before_hello_closes_with_protocol_error() -> None:
    """Malformed bytes instead of a hello close the connection with a reason."""
    [close] = LinkSession(0.0).receive("GET / HTTP/1.1", 0.0)
    assert isinstance(close, Close) and close.code is CloseCode.PROTOCOL_ERROR
    assert "malformed" in close.reason


def test_wrong_version_is_refused_with_its_own_code() -> None:
    """A lane speaking a future version learns which version the centre speaks."""
    [close] = LinkSession(0.0).receive(HELLO.replace('"v":1', '"v":2'), 0.0)
    assert close == Close(CloseCode.VERSION_UNSUPPORTED, "protocol version 1 only")


def test_refused_credentials_close_without_saying_which_part_was_wrong() -> None:
    """Unknown lane and wrong token look the same to a prober."""
    session = LinkSession(0.0)
    session.receive(HELLO, 0.0)
    assert session.refuse() == [Close(CloseCode.UNAUTHORISED, "unknown lane or wrong token")]


def test_messages_while_authenticating_are_out_of_order() -> None:
    """Until welcome, a lane may not send events."""
    session = LinkSession(0.0)
    session.receive(HELLO, 0.0)
    [reply] = session.receive('{"type":"gate","state":"up"}', 0.0)
    assert isinstance(reply, Send) and isinstance(reply.message, Error)
    assert reply.message.code == "out_of_order"
    assert session.phase is Phase.AUTHENTICATING


def test_second_hello_on_an_open_link_is_out_of_order_and_changes_nothing() -> None:
    """A lane cannot switch identity mid-connection."""
    session = opened()
    [reply] = session.receive(HELLO.replace("P1-IN", "P2-IN"), 1.0)
    assert isinstance(reply, Send) and reply.message == Error(
        "out_of_order", "hello not allowed while open", "hello"
    )
    assert session.lane == "P1-IN"


def test_bad_message_on_an_open_link_gets_an_error_and_keeps_the_deadline() -> None:
    """Malformed input is answered, not acted on, and does not count as a heartbeat."""
    session = opened()
    deadline = session.deadline
    [reply] = session.receive('{"type":"gate","state":"sideways"}', 3.0)
    assert isinstance(reply, Send) and isinstance(reply.message, Error)
    assert reply.message.code == "malformed" and reply.message.ref == "gate"
    assert session.deadline == deadline


def test_valid_messages_are_delivered_and_push_the_deadline() -> None:
    """Any valid message proves the lane is alive."""
    session = opened()
    assert session.receive('{"type":"heartbeat"}', 3.0) == [Deliver(Heartbeat())]
    assert session.deadline == 3.0 + 2.5 * 2.0
    assert session.receive('{"type":"gate","state":"up"}', 4.0)[0] == Deliver(Gate(GateState.UP))


def test_call_is_delivered_with_its_event_id_or_none_from_an_older_lane() -> None:
    """The centre has the press's id to go by, and takes a bare call as before."""
    session = opened()
    assert session.receive('{"type":"call","event_id":"p1"}', 1.0) == [Deliver(Call("p1"))]
    assert session.receive('{"type":"call"}', 2.0) == [Deliver(Call(event_id=None))]


def test_call_with_a_bad_event_id_gets_an_error_naming_the_call() -> None:
    """A broken id is refused like any malformed field; the press is not delivered."""
    [reply] = opened().receive('{"type":"call","event_id":"p 1"}', 1.0)
    assert reply == Send(
        Error(
            "malformed",
            "field 'event_id' must be 1-64 of A-Z a-z 0-9 _ . : - starting alphanumeric",
            "call",
        )
    )


def test_missed_heartbeats_close_the_link() -> None:
    """After grace x interval of silence the lane is offline."""
    session = opened()
    assert session.expire(4.9) == []
    assert session.expire(5.0) == [Close(CloseCode.TIMEOUT, "heartbeat missed")]
    assert session.receive('{"type":"heartbeat"}', 5.1) == []


def test_no_hello_in_time_closes_the_link() -> None:
    """A connection that never says hello is not kept open."""
    session = LinkSession(0.0, HeartbeatPolicy(hello_timeout_s=10.0))
    assert session.expire(10.0) == [Close(CloseCode.TIMEOUT, "no hello in time")]


def test_replaced_connection_is_closed_with_its_code() -> None:
    """The older of two connections for one lane is told why it was dropped."""
    assert opened().replaced() == [
        Close(CloseCode.REPLACED, "another connection claimed this lane")
    ]


def test_takeovers_are_counted_within_their_window_then_fade() -> None:
    """A lane's takeovers count for ten minutes each; after the last one's window, none
    is left to show."""
    takeovers = Takeovers(window_s=600.0)
    assert takeovers.record("P1-IN", 0.0) == 1
    assert takeovers.record("P1-IN", 100.0) == 2
    assert takeovers.record("P2-IN", 100.0) == 1
    assert not takeovers.faded("P1-IN", 600.0)
    assert takeovers.record("P1-IN", 650.0) == 2
    assert not takeovers.faded("P1-IN", 1249.0)
    assert takeovers.faded("P1-IN", 1250.0)
    assert takeovers.record("P1-IN", 1300.0) == 1


GATE = '{"type":"gate","state":"up"}'


def limited(now: float = 0.0) -> LinkSession:
    session = LinkSession(now, rate=RatePolicy(per_s=10.0, burst=3))
    [auth] = session.receive(HELLO, now)  # the hello takes one of the burst
    assert isinstance(auth, Authenticate)
    session.accept(auth.hello, now)
    return session


def test_frames_beyond_the_burst_are_refused_as_rate_limited_and_change_nothing() -> None:
    """Past its burst a lane's frame is answered rate_limited, not acted on, and does not
    count as a sign of life."""
    session = limited()
    assert session.receive(GATE, 0.0) == [Deliver(Gate(GateState.UP))]
    assert session.receive(GATE, 0.0) == [Deliver(Gate(GateState.UP))]
    deadline = session.deadline
    [reply, report] = session.receive(GATE, 0.05)
    assert isinstance(reply, Send) and isinstance(reply.message, Error)
    assert (reply.message.code, reply.message.ref) == ("rate_limited", "")
    assert "10 messages a second" in reply.message.detail
    assert report == Flooding(refused=1)
    assert session.deadline == deadline and session.refused == 1


def test_bucket_refills_at_its_rate() -> None:
    """A lane that keeps to the rate is never refused."""
    session = limited()
    session.receive(GATE, 0.0)
    session.receive(GATE, 0.0)
    for n in range(1, 50):
        assert session.receive(GATE, n * 0.1) == [Deliver(Gate(GateState.UP))]
    assert session.refused == 0


def test_reading_is_paced_to_the_read_rate_past_the_burst() -> None:
    """However fast a lane sends, past a burst the centre reads at most ``read_per_s``
    frames a second from it, a batch at a time; TCP holds the rest, at no cost to it."""
    session = LinkSession(0.0, rate=RatePolicy(per_s=10.0, burst=20, read_per_s=100.0))
    session.receive(HELLO, 0.0)
    for _ in range(18):
        session.receive(GATE, 0.0)
    assert session.read_after == 0.0
    session.receive(GATE, 0.0)
    assert session.read_after == pytest.approx(0.1)
    for _ in range(10):
        session.receive(GATE, 0.1)
    assert session.read_after == pytest.approx(0.2)


def test_flooding_is_reported_at_most_once_a_second_with_the_count() -> None:
    """Every refused frame gets its error; the centre's log gets the running count of
    refused frames at most once a second."""
    session = limited()
    session.receive(GATE, 0.0)
    session.receive(GATE, 0.0)
    first = [session.receive(GATE, 0.0) for _ in range(5)]
    assert all(isinstance(actions[0], Send) for actions in first)
    assert [a for actions in first for a in actions if isinstance(a, Flooding)] == [Flooding(1)]
    later = [session.receive(GATE, 1.0) for _ in range(5)]  # the bucket refilled to 3
    assert [type(actions[0]) for actions in later] == [Deliver, Deliver, Deliver, Send, Send]
    assert [a for actions in later for a in actions if isinstance(a, Flooding)] == [Flooding(6)]


def test_replies_to_the_centres_commands_do_not_count_against_the_lane() -> None:
    """Each command the centre sends grants the lane its ack and end: the centre never
    refuses the answer it asked for, however many commands it sent at once."""
    session = limited()  # two frames of the burst left
    for _ in range(10):
        session.commanded()
    for n in range(22):
        assert session.receive(f'{{"type":"ack","command_id":"c-{n}"}}', 0.0)[0] == Deliver(
            Ack(f"c-{n}")
        )
    [reply, _] = session.receive(GATE, 0.0)
    assert isinstance(reply, Send) and isinstance(reply.message, Error)
    assert reply.message.code == "rate_limited"
