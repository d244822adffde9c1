"""Switchboard, the centre's live-media rules, driven with literals: no sockets, no peers,
times given as numbers."""

from __future__ import annotations

import itertools

import pytest

from gates.protocol import Media
from media.centre.actions import (
    Announce,
    AskKeyframe,
    Burst,
    CloseUpstream,
    CloseViewer,
    HearAgent,
    Notify,
    Speak,
)
from media.centre.switchboard import Switchboard
from media.centre.viewing import (
    FloorChanged,
    StreamChanged,
    ViewerJoined,
    ViewerLeft,
    Viewing,
    Watcher,
)
from media.errors import IntercomBusy, LaneOffline
from media.messages import CloseCode
from media.units import Kind, MediaUnit

ALICE = Watcher("alice", "agent", "10.0.0.1")
BOB = Watcher("bob", "agent", "10.0.0.2")
SUE = Watcher("sue", "supervisor", "10.0.0.3")
ADA = Watcher("ada", "admin", "10.0.0.4")


def book(**kwargs: float) -> Switchboard:
    streams = (f"st{n}" for n in itertools.count(1))
    return Switchboard(
        grace_s=10, connect_s=5, keyframe_interval_s=1, new_stream=lambda: next(streams), **kwargs
    )


def viewing(
    viewer_id: str, who: Watcher = ALICE, *, talk: bool = False, listen: bool = False
) -> Viewing:
    return Viewing(viewer_id, "L1", who, talk=talk, listen=listen or talk)


def joined(board: Switchboard, seat: Viewing, now: float = 0.0) -> list[object]:
    admitted = board.admit(seat, online=True, now=now)
    return [*admitted, *board.join(seat.id, now)]


def video(seq: int, *, key: bool = False, pts: int | None = None) -> MediaUnit:
    return MediaUnit(Kind.VIDEO, seq, seq * 6000 if pts is None else pts, 1.0, b"v", key)


def streaming(board: Switchboard, upstream: int = 7) -> None:
    """The lane dialled in for the stream it was asked for."""
    board.upstream_opened("L1", "st1", upstream)


# ------------------------------------------------------------------ watching


def test_the_first_viewer_asks_the_lane_to_stream_video() -> None:
    """A viewer joining a lane nobody watched makes the lane be asked for video."""
    board = book()
    seat = viewing("v1")
    assert joined(board, seat) == [
        Announce(ViewerJoined(seat)),
        Notify("L1", Media("st1", video=True, audio=False)),
    ]


def test_a_listener_adds_audio_and_a_second_viewer_asks_nothing_new() -> None:
    """The lane is asked again only when what it should send changes."""
    board = book()
    joined(board, viewing("v1"))
    assert joined(board, viewing("v2", BOB))[1:] == []
    assert joined(board, viewing("v3", SUE, listen=True))[1:] == [
        Notify("L1", Media("st1", video=True, audio=True))
    ]


def test_an_offline_lane_admits_nobody() -> None:
    """Watching an offline lane is refused and leaves nothing behind."""
    board = book()
    with pytest.raises(LaneOffline):
        board.admit(viewing("v1"), online=False, now=0)
    assert board.viewers() == [] and board.deadline is None


def test_a_joining_viewer_gets_the_current_gop_first() -> None:
    """Units since the last keyframe go to a new viewer as one burst."""
    board = book()
    joined(board, viewing("v1"))
    streaming(board)
    taken = [board.take("L1", 7, unit) for unit in (video(1, key=True), video(2), video(3))]
    actions = joined(board, viewing("v2", BOB))
    assert actions[0] == Burst("v2", tuple(u for u in taken if u is not None))


def test_units_of_a_replaced_connection_are_dropped() -> None:
    """Only the lane's current media connection feeds the viewers."""
    board = book()
    joined(board, viewing("v1"))
    streaming(board, upstream=7)
    assert board.upstream_opened("L1", "st1", 8) == [
        CloseUpstream(7, CloseCode.REPLACED, "replaced by a newer media connection")
    ]
    assert board.take("L1", 7, video(1, key=True)) is None
    assert board.take("L1", 8, video(1, key=True)) is not None


def test_a_new_connection_continues_the_lanes_clock() -> None:
    """A lane that redials restarts its pts; viewers see one clock going on."""
    board = book()
    joined(board, viewing("v1"))
    streaming(board, upstream=7)
    first = board.take("L1", 7, video(1, key=True, pts=900_000))
    board.upstream_opened("L1", "st1", 8)
    second = board.take("L1", 8, video(1, key=True, pts=0))
    assert first is not None and second is not None
    assert second.pts == first.pts + 6000


def test_a_connection_for_a_stream_nobody_asked_for_is_closed() -> None:
    """A stale or made-up stream id is refused with 4410."""
    board = book()
    joined(board, viewing("v1"))
    assert board.upstream_opened("L1", "old", 7) == [
        CloseUpstream(7, CloseCode.NOT_WANTED, "no such stream is wanted")
    ]
    assert not board.streaming("L1")


# ------------------------------------------------------------------ leaving


def test_the_last_viewer_leaving_stops_the_lane_after_the_grace_time() -> None:
    """The lane keeps streaming for the grace time, then is told to stop and hung up."""
    board = book()
    seat = viewing("v1")
    joined(board, seat, now=100)
    streaming(board)
    board.connected("v1")
    assert board.leave("v1", now=130) == [Announce(ViewerLeft(seat, 30))]
    assert board.deadline == 140
    assert board.expire(139.9) == []
    assert board.expire(140) == [
        Notify("L1", Media("st1", video=False, audio=False)),
        CloseUpstream(7, CloseCode.NOT_WANTED, "nobody is watching"),
        Announce(StreamChanged("L1", False)),
    ]
    assert board.deadline is None and not board.streaming("L1")


def test_a_viewer_joining_within_the_grace_time_keeps_the_stream() -> None:
    """Flicking back to a lane gets the same stream, with no new ask."""
    board = book()
    joined(board, viewing("v1"), now=0)
    board.connected("v1")
    board.leave("v1", now=1)
    assert joined(board, viewing("v2"), now=5)[1:] == []
    board.connected("v2")
    assert board.deadline is None and board.expire(100) == []


def test_a_viewer_that_never_connects_is_closed_after_the_connect_time() -> None:
    """A browser that vanished while connecting is reaped at join + connect_s."""
    board = book()
    joined(board, viewing("v1"), now=10)
    assert board.deadline == 15
    assert board.expire(15) == [CloseViewer("v1", "not connected within 5 s")]


def test_a_connected_viewer_is_not_reaped() -> None:
    """Connecting in time clears the viewer's connect deadline."""
    board = book()
    joined(board, viewing("v1"), now=10)
    board.connected("v1")
    assert board.deadline is None and board.expire(1000) == []


def test_a_viewer_whose_offer_failed_leaves_no_trace() -> None:
    """Leaving before joining frees the floor it took and announces no watch."""
    board = book()
    board.admit(viewing("v1", talk=True), online=True, now=0)
    assert board.leave("v1", now=1) == [Announce(FloorChanged("L1", None))]
    assert board.viewers() == [] and board.holder("L1") is None


# ------------------------------------------------------------------ the floor


def test_one_talker_at_a_time() -> None:
    """A second talker is refused naming the holder; the first keeps the floor."""
    board = book()
    assert joined(board, viewing("v1", talk=True))[0] == Announce(FloorChanged("L1", "alice"))
    with pytest.raises(IntercomBusy) as busy:
        board.admit(viewing("v2", BOB, talk=True), online=True, now=0)
    assert busy.value.extra == {"holder": "alice"}
    assert board.holder("L1") == "alice"


def test_the_floor_is_checked_when_the_offer_arrives_not_after_answering() -> None:
    """Two offers to talk racing: the second is refused while the first is answered."""
    board = book()
    board.admit(viewing("v1", talk=True), online=True, now=0)
    with pytest.raises(IntercomBusy):
        board.admit(viewing("v2", BOB, talk=True), online=True, now=0)


def test_the_talker_leaving_frees_the_floor() -> None:
    """When the talking viewer goes, anyone may take the intercom."""
    board = book()
    seat = viewing("v1", talk=True)
    joined(board, seat)
    board.connected("v1")
    assert board.leave("v1", now=2)[1] == Announce(FloorChanged("L1", None))
    assert joined(board, viewing("v2", BOB, talk=True))[0] == Announce(FloorChanged("L1", "bob"))


def test_a_reserved_floor_admits_only_its_user() -> None:
    """A floor reserved for bob refuses alice and lets bob talk."""
    board = book()
    assert board.reserve("L1", "bob") == [Announce(FloorChanged("L1", "bob"))]
    with pytest.raises(IntercomBusy):
        board.admit(viewing("v1", ALICE, talk=True), online=True, now=0)
    assert joined(board, viewing("v2", BOB, talk=True))[0] == Announce(
        ViewerJoined(viewing("v2", BOB, talk=True))
    )
    assert board.holder("L1") == "bob"


def test_a_reservation_outlives_its_users_talking_viewer() -> None:
    """The reserved user hanging up keeps the floor until it is released."""
    board = book()
    board.reserve("L1", "bob")
    joined(board, viewing("v2", BOB, talk=True))
    board.connected("v2")
    assert FloorChanged("L1", None) not in [
        a.event for a in board.leave("v2", now=1) if isinstance(a, Announce)
    ]
    assert board.holder("L1") == "bob"


def test_reserving_a_floor_someone_else_holds_is_refused() -> None:
    """A reservation cannot take the intercom from a talking agent."""
    board = book()
    joined(board, viewing("v1", talk=True))
    with pytest.raises(IntercomBusy):
        board.reserve("L1", "bob")
    assert board.holder("L1") == "alice"


def test_releasing_the_floor_closes_the_viewer_talking_through_it() -> None:
    """Released means silent: the holder's talking viewer is closed."""
    board = book()
    board.reserve("L1", "bob")
    joined(board, viewing("v2", BOB, talk=True))
    assert board.release("L1", "bob") == [
        CloseViewer("v2", "the intercom was released"),
        Announce(FloorChanged("L1", None)),
    ]
    assert board.holder("L1") is None


def test_releasing_a_floor_one_does_not_hold_changes_nothing() -> None:
    """Only the holder can release the intercom."""
    board = book()
    joined(board, viewing("v1", talk=True))
    assert board.release("L1", "bob") == []
    assert board.holder("L1") == "alice"


def test_only_the_floor_holders_voice_reaches_the_lane() -> None:
    """Speech goes to the lane's connection, numbered, from the holder only."""
    board = book()
    joined(board, viewing("v1", talk=True))
    joined(board, viewing("v2", BOB))
    assert board.speech("v1", b"opus", captured=5.0) == []  # no upstream yet
    streaming(board)
    assert board.speech("v1", b"opus", captured=5.0) == [
        Speak(7, MediaUnit(Kind.AUDIO, 1, 960, 5.0, b"opus"))
    ]
    assert board.speech("v2", b"opus", captured=5.0) == []


# ------------------------------------------------------------------ listening in


def spoken(seq: int) -> MediaUnit:
    """The agent's packet as the switchboard numbers it, on 20 ms steps."""
    return MediaUnit(Kind.AUDIO, seq, seq * 960, 5.0, b"opus")


def test_the_holders_speech_reaches_the_lane_and_every_listener() -> None:
    """Alice talks to the lane: the lane's speaker and both supervisors listening in
    get her packet; Bob, only watching, gets none."""
    board = book()
    joined(board, viewing("v1", ALICE, talk=True))
    joined(board, viewing("v2", BOB))
    joined(board, viewing("v3", SUE, listen=True))
    joined(board, viewing("v4", ADA, listen=True))
    streaming(board)
    assert board.speech("v1", b"opus", captured=5.0) == [
        Speak(7, spoken(1)),
        HearAgent("v3", spoken(1)),
        HearAgent("v4", spoken(1)),
    ]
    assert list(board.audience("L1", Kind.AUDIO)) == ["v1", "v3", "v4"]  # and the lane


def test_listeners_hear_the_holder_before_the_lane_streams() -> None:
    """No media connection yet: nothing reaches the lane, the listener still hears."""
    board = book()
    joined(board, viewing("v1", ALICE, talk=True))
    joined(board, viewing("v3", SUE, listen=True))
    assert board.speech("v1", b"opus", captured=5.0) == [HearAgent("v3", spoken(1))]


def test_the_holder_does_not_hear_their_own_voice() -> None:
    """Sue took the call over: her own listening view is not sent her speech; Ada's is."""
    board = book()
    board.reserve("L1", "sue")
    joined(board, viewing("v3", SUE, listen=True))
    joined(board, viewing("v1", SUE, talk=True))
    joined(board, viewing("v4", ADA, listen=True))
    streaming(board)
    assert board.speech("v1", b"opus", captured=5.0) == [
        Speak(7, spoken(1)),
        HearAgent("v4", spoken(1)),
    ]


def test_listeners_hear_one_clock_across_holders() -> None:
    """Alice hangs up and Bob takes the intercom: the listener's agent track goes on
    one packet after the last, never back in time."""
    board = book()
    joined(board, viewing("v3", SUE, listen=True))
    joined(board, viewing("v1", ALICE, talk=True))
    board.speech("v1", b"opus", captured=5.0)
    board.connected("v1")
    board.leave("v1", now=1)
    joined(board, viewing("v2", BOB, talk=True))
    assert board.speech("v2", b"opus", captured=5.0) == [HearAgent("v3", spoken(2))]


# ------------------------------------------------------------------ keyframes


def test_keyframe_requests_are_throttled_and_the_late_one_is_deferred() -> None:
    """One request a second reaches the lane; one within that second is sent when it
    ends instead of being lost."""
    board = book()
    joined(board, viewing("v1"))
    board.connected("v1")
    streaming(board)
    assert board.keyframe_wanted("L1", now=10) == [AskKeyframe(7)]
    assert board.keyframe_wanted("L1", now=10.2) == []
    assert board.keyframe_wanted("L1", now=10.5) == []
    assert board.deadline == 11
    assert board.expire(11) == [AskKeyframe(7)]
    assert board.deadline is None


def test_no_keyframe_is_asked_without_a_media_connection() -> None:
    """With no upstream there is nobody to ask (a new one starts at a keyframe)."""
    board = book()
    joined(board, viewing("v1"))
    board.connected("v1")
    assert board.keyframe_wanted("L1", now=10) == []
    assert board.deadline is None


# ------------------------------------------------------------------ the lane


def test_a_lane_that_reconnects_is_asked_again() -> None:
    """A lane's link dropping makes it forget the stream; back online it is re-asked."""
    board = book()
    joined(board, viewing("v1"))
    assert board.lane_status("L1", online=False) == []
    assert board.lane_status("L1", online=True) == [
        Notify("L1", Media("st1", video=True, audio=False))
    ]


def test_the_stream_going_and_coming_is_announced() -> None:
    """The lane's media connection up and down are announced once each."""
    board = book()
    joined(board, viewing("v1"))
    assert board.upstream_opened("L1", "st1", 7) == [Announce(StreamChanged("L1", True))]
    assert board.upstream_closed("L1", 8) == []  # not the lane's connection
    assert board.upstream_closed("L1", 7) == [Announce(StreamChanged("L1", False))]
