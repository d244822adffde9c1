"""The switchboard's rules for phone calls from the help page, driven with literals: the
caller's voice reaches the holder's viewers of the lane instead of the lane's sound, and
the holder's speech reaches the caller instead of the lane; a supervisor listening in at
the lane hears both."""

from __future__ import annotations

import pytest

from gates.protocol import Media
from media.centre.actions import (
    Action,
    ClosePhone,
    HearAgent,
    HearPhone,
    Notify,
    Speak,
    SpeakToPhone,
)
from media.centre.switchboard import Switchboard
from media.errors import CallOver, LaneOffline
from media.units import Kind, MediaUnit
from tests.test_switchboard import ALICE, BOB, SUE, book, joined, streaming, viewing


def voice(seq: int, pts: int | None = None) -> MediaUnit:
    """The caller's packet as the phone's receiver numbers it."""
    return MediaUnit(Kind.AUDIO, seq, seq * 960 if pts is None else pts, 3.0, b"hello")


def heard(viewer: str, pts: int, seq: int = 1) -> HearPhone:
    return HearPhone(viewer, MediaUnit(Kind.AUDIO, seq, pts, 3.0, b"hello"))


def answered(board: Switchboard, holder: str = "alice") -> None:
    """Call c1 at L1, answered by ``holder``, its phone p1 connected."""
    board.line("c1", "L1", holder)
    board.phone_joined("c1", "p1")


def test_before_an_answer_the_callers_voice_goes_nowhere() -> None:
    """Waiting in the queue, the caller is heard by nobody, not even a viewer."""
    board = book()
    joined(board, viewing("v1", talk=True))
    board.line("c1", "L1", None)
    assert board.phone_joined("c1", "p1") == []
    assert board.phone_voice("p1", voice(0)) == []


def test_the_holders_viewers_hear_the_caller_instead_of_the_lane() -> None:
    """Alice holds the call: her view and a supervisor's listening in carry the caller,
    the lane is no longer asked for its sound; everyone still gets the camera."""
    board = book()
    joined(board, viewing("v1", ALICE, talk=True))
    joined(board, viewing("v3", SUE, listen=True))
    assert board.line("c1", "L1", "alice") == [Notify("L1", Media("st1", video=True, audio=False))]
    board.phone_joined("c1", "p1")
    assert board.phone_voice("p1", voice(0)) == [heard("v1", 0, seq=0), heard("v3", 0, seq=0)]
    assert list(board.audience("L1", Kind.AUDIO)) == []
    assert list(board.audience("L1", Kind.VIDEO)) == ["v1", "v3"]


def test_a_listener_hears_the_holder_speak_to_the_caller() -> None:
    """Alice's words go to the phone and to Sue listening in, not back to Alice."""
    board = book()
    answered(board)
    joined(board, viewing("v1", ALICE, talk=True))
    joined(board, viewing("v3", SUE, listen=True))
    unit = MediaUnit(Kind.AUDIO, 1, 960, 5.0, b"opus")
    assert board.speech("v1", b"opus", captured=5.0) == [
        SpeakToPhone("p1", unit),
        HearAgent("v3", unit),
    ]


def test_while_a_phone_call_is_heard_a_lane_talkers_words_reach_only_the_lane() -> None:
    """Bob talks to the lane at the same lane meanwhile: the listener hears the phone
    call, not a mix of two agents on one track."""
    board = book()
    answered(board)
    joined(board, viewing("v3", SUE, listen=True))
    joined(board, viewing("v2", BOB, talk=True))
    streaming(board)
    assert board.speech("v2", b"opus", captured=5.0) == [
        Speak(7, MediaUnit(Kind.AUDIO, 1, 960, 5.0, b"opus"))
    ]


def test_listeners_hear_the_lane_again_when_the_call_ends() -> None:
    """Over: the lane is asked for its sound again, for Alice and the listener."""
    board = book()
    joined(board, viewing("v1", ALICE, talk=True))
    joined(board, viewing("v3", SUE, listen=True))
    answered(board)
    assert board.end_line("c1") == [
        ClosePhone("p1", "the call is over"),
        Notify("L1", Media("st1", video=True, audio=True)),
    ]
    assert list(board.audience("L1", Kind.AUDIO)) == ["v1", "v3"]


def test_a_holders_view_without_sound_hears_nothing() -> None:
    """Only a viewer that carries sound can carry the caller's voice."""
    board = book()
    joined(board, viewing("v1", ALICE))
    answered(board)
    assert board.phone_voice("p1", voice(0)) == []


def test_the_holders_speech_goes_to_the_caller_and_the_lanes_floor_stays_free() -> None:
    """Alice's talking view takes no floor; her words go to the phone, and Bob may
    talk to the lane meanwhile."""
    board = book()
    answered(board)
    joined(board, viewing("v1", ALICE, talk=True))
    assert board.holder("L1") is None
    streaming(board)
    assert board.speech("v1", b"opus", captured=5.0) == [
        SpeakToPhone("p1", MediaUnit(Kind.AUDIO, 1, 960, 5.0, b"opus"))
    ]
    joined(board, viewing("v2", BOB, talk=True))
    assert board.holder("L1") == "bob"
    assert board.speech("v2", b"opus", captured=5.0) == [
        Speak(7, MediaUnit(Kind.AUDIO, 1, 960, 5.0, b"opus"))
    ]


def test_a_holder_whose_caller_has_no_connection_speaks_to_nobody() -> None:
    """Answered before the phone offered its voice: not a word goes to the lane."""
    board = book()
    board.line("c1", "L1", "alice")
    joined(board, viewing("v1", ALICE, talk=True))
    streaming(board)
    assert board.speech("v1", b"opus", captured=5.0) == []


def test_the_lane_is_not_asked_for_sound_only_the_holder_would_hear() -> None:
    """Alice's view asked for the lane's sound; her call makes it unwanted, and its
    end wants it again."""
    board = book()
    joined(board, viewing("v1", ALICE, talk=True))
    assert board.line("c1", "L1", "alice") == [Notify("L1", Media("st1", video=True, audio=False))]
    board.phone_joined("c1", "p1")
    assert board.end_line("c1") == [
        ClosePhone("p1", "the call is over"),
        Notify("L1", Media("st1", video=True, audio=True)),
    ]


def test_a_call_at_a_lane_nobody_watches_asks_the_lane_nothing() -> None:
    """The line alone is no reason for the lane to stream."""
    board = book()
    assert board.line("c1", "L1", None) == []
    assert board.line("c1", "L1", "alice") == []
    assert board.line("c1", "L1", "alice") == []
    assert board.end_line("c1") == []


def test_the_holder_may_open_the_view_of_an_offline_lane() -> None:
    """A driver calls from a phone because the lane is down: the holder gets its
    caller's voice (no picture); anyone else is refused."""
    board = book()
    board.line("c1", "L1", "alice")
    assert board.admit(viewing("v1", ALICE, talk=True), online=False, now=0) == []
    board.join("v1", now=0)
    board.phone_joined("c1", "p1")
    assert board.phone_voice("p1", voice(0)) == [heard("v1", 0, seq=0)]
    with pytest.raises(LaneOffline):
        board.admit(viewing("v2", BOB, talk=True), online=False, now=0)


def test_a_supervisor_may_listen_in_on_a_phone_call_at_an_offline_lane() -> None:
    """The lane is down, Alice holds its caller: Sue listening in hears the caller;
    Bob, only watching, is refused."""
    board = book()
    answered(board)
    board.admit(viewing("v3", SUE, listen=True), online=False, now=0)
    board.join("v3", now=0)
    assert board.phone_voice("p1", voice(0)) == [heard("v3", 0, seq=0)]
    with pytest.raises(LaneOffline):
        board.admit(viewing("v2", BOB), online=False, now=0)


def test_a_transfer_moves_the_caller_to_the_new_holder() -> None:
    """Handed to Bob: his view hears the caller, Alice's hears the lane again."""
    board = book()
    joined(board, viewing("v1", ALICE, talk=True))
    joined(board, viewing("v2", BOB, listen=True))
    answered(board)
    board.line("c1", "L1", "bob")
    assert board.phone_voice("p1", voice(0)) == [heard("v2", 0, seq=0)]
    assert list(board.audience("L1", Kind.AUDIO)) == ["v1"]


def test_a_new_phone_connection_replaces_the_old_one() -> None:
    """The page offered again (its connection failed): the old one is closed and
    what it still sends is dropped."""
    board = book()
    joined(board, viewing("v1", talk=True))
    answered(board)
    assert board.phone_joined("c1", "p2") == [
        ClosePhone("p1", "replaced by the page's new connection")
    ]
    assert board.phone_voice("p1", voice(5)) == []
    assert board.phone_left("p1") == []
    to_holder = board.phone_voice("p2", voice(0))[0]
    assert isinstance(to_holder, HearPhone) and to_holder.viewer == "v1"


def test_the_callers_voice_stays_on_one_clock_across_reconnections() -> None:
    """A new connection's packets start from 0 again; the holder's view gets them one
    packet after the last, never back in time."""
    board = book()
    joined(board, viewing("v1", talk=True))
    answered(board)
    first = [board.phone_voice("p1", voice(n)) for n in (0, 1)]
    board.phone_joined("c1", "p2")
    second = board.phone_voice("p2", voice(0))
    assert [pts_heard(actions) for actions in (*first, second)] == [0, 960, 1920]


def pts_heard(actions: list[Action]) -> int:
    """The timestamp of the caller's packet the first of ``actions`` hands a viewer."""
    assert isinstance(actions[0], HearPhone)
    return actions[0].unit.pts


def test_the_end_of_the_call_closes_the_phone_and_gives_the_lane_back() -> None:
    """Over: the phone is closed, the caller reaches nobody, Alice hears the lane."""
    board = book()
    joined(board, viewing("v1", talk=True))
    answered(board)
    assert ClosePhone("p1", "the call is over") in board.end_line("c1")
    assert board.phone_voice("p1", voice(1)) == []
    assert list(board.audience("L1", Kind.AUDIO)) == ["v1"]
    assert board.end_line("c1") == []


def test_a_phone_for_a_call_that_is_over_is_refused() -> None:
    """An offer racing the hang-up finds no call to carry."""
    board = book()
    with pytest.raises(CallOver):
        board.phone_joined("c9", "p1")
