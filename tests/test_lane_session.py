"""The lane's side of the link, driven with literals and a fake clock."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from gates.lane.drivers import (
    CallEnded,
    CallPressed,
    EscapeSeen,
    FaultRaised,
    GateChanged,
    VehicleSeen,
)
from gates.lane.memory import CommandMemory, Memo
from gates.lane.session import Execute, HangUp, LaneSession, Pressed, Problem, State
from gates.protocol import (
    MAX_FAULT_DETAIL,
    Ack,
    Call,
    CallOver,
    DeviceInfo,
    DisplaySize,
    Done,
    Escape,
    Fault,
    Gate,
    Heartbeat,
    Hello,
    OpenGate,
    Refused,
    Vehicle,
)
from gates.textrules import is_ident
from gates.vocabulary import GateState, PlateColour

WELCOME = '{"type":"welcome","v":1,"lane":"P1-IN","heartbeat_ms":2000}'
OPEN_C1 = '{"type":"open_gate","command_id":"c1","reason":"paid_not_lifted"}'
SEEN = VehicleSeen(
    at=datetime(2026, 11, 23, tzinfo=UTC),
    plate="粤B12345",
    plate_colour=PlateColour.BLUE,
    confidence=0.9,
    box=(1, 2, 3, 4),
    snapshot_jpeg=b"\xff\xd8\xff",
)


def opened(memory: CommandMemory | None = None) -> LaneSession:
    session = LaneSession("P1-IN", "secret", heartbeat_ms=2000, memory=memory)
    session.connected(0.0)
    session.receive(WELCOME, 0.0)
    return session


def test_connecting_says_hello_with_the_proposed_heartbeat() -> None:
    """The first message names the lane, its token and the interval it wants."""
    session = LaneSession("P1-IN", "secret", heartbeat_ms=3000, agent="t")
    assert session.connected(0.0) == [Hello("P1-IN", "secret", 3000, agent="t")]


def test_hello_states_the_display_size_the_lane_was_given() -> None:
    """A lane that knows its display tells the centre how much text it shows."""
    session = LaneSession("P1-IN", "secret", display=DisplaySize(lines=4, chars=32))
    [hello] = session.connected(0.0)
    assert isinstance(hello, Hello) and hello.display == DisplaySize(lines=4, chars=32)


def test_hello_states_the_devices_the_lane_was_given() -> None:
    """A lane built of devices names them, so the console can show which is which."""
    cam = DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64")
    session = LaneSession("P1-IN", "secret", devices=(cam,))
    [hello] = session.connected(0.0)
    assert isinstance(hello, Hello) and hello.devices == (cam,)
    assert json.loads(hello.encode())["devices"] == [cam.to_json()]


def test_welcome_opens_the_link_and_replays_gate_state_and_faults() -> None:
    """After a reconnect the centre learns the gate and any standing fault again."""
    session = LaneSession("P1-IN", "secret")
    session.event(GateChanged(GateState.DOWN), 0.0)
    session.event(FaultRaised("loop_detector", "no signal"), 0.0)
    session.connected(1.0)
    assert session.receive(WELCOME, 1.0) == [
        Gate(GateState.DOWN),
        Fault("loop_detector", "no signal"),
    ]
    assert session.state is State.OPEN and session.heartbeat_ms == 2000


def test_vehicles_seen_while_offline_are_sent_after_welcome() -> None:
    """The car at the gate during a link blip still reaches the centre."""
    session = LaneSession("P1-IN", "secret")
    assert session.event(SEEN, 0.0) == []
    assert [type(a) for a in session.event(CallPressed(), 0.0)] == [Pressed]
    session.connected(1.0)
    replay = session.receive(WELCOME, 1.0)
    assert [type(m) for m in replay] == [Gate, Vehicle, Call]


def test_each_press_is_sent_at_once_under_an_event_id_of_its_own() -> None:
    """Two presses are two calls the centre can tell apart, each noted for the log."""
    session = opened()
    [note_1, sent_1] = session.event(CallPressed(), 1.0)
    [note_2, sent_2] = session.event(CallPressed(), 2.0)
    assert isinstance(sent_1, Call) and isinstance(sent_2, Call)
    assert (note_1, note_2) == (Pressed(sent_1), Pressed(sent_2))
    assert sent_1.event_id is not None and is_ident(sent_1.event_id)
    assert sent_1.event_id != sent_2.event_id


def test_press_while_offline_is_sent_after_welcome_under_the_id_it_was_given() -> None:
    """The id is the press's, not the sending's: the log and the centre name one press."""
    session = opened()
    session.disconnected()
    [note] = session.event(CallPressed(), 1.0)
    assert isinstance(note, Pressed) and note.call.event_id is not None
    session.connected(2.0)
    assert session.receive(WELCOME, 2.0) == [Gate(GateState.UNKNOWN), note.call]


def test_press_sent_before_a_reconnect_is_not_sent_again() -> None:
    """Calls, like vehicles, go once: a reconnect replays state, not events that went out."""
    session = opened()
    session.event(CallPressed(), 1.0)
    session.disconnected()
    session.connected(2.0)
    assert session.receive(WELCOME, 2.0) == [Gate(GateState.UNKNOWN)]


def test_a_press_goes_out_under_the_id_the_driver_gave_it() -> None:
    """The intercom knows its call by the press's id, so the centre must see that id."""
    session = opened()
    [_, sent] = session.event(CallPressed("press-7"), 1.0)
    assert sent == Call(event_id="press-7")


def test_the_intercom_hanging_up_is_sent_at_once_or_after_a_blip() -> None:
    """The driver's hang-up follows the press to the centre, kept like it while offline."""
    session = opened()
    assert session.event(CallEnded("press-7"), 1.0) == [CallOver(("press-7",))]
    session.disconnected()
    session.event(CallPressed("press-8"), 2.0)
    assert session.event(CallEnded("press-8"), 3.0) == []
    session.connected(4.0)
    assert session.receive(WELCOME, 4.0) == [
        Gate(GateState.UNKNOWN),
        Call(event_id="press-8"),
        CallOver(("press-8",)),
    ]


def test_the_centre_s_call_over_hangs_up_and_sends_nothing() -> None:
    """A ``call_over`` is no command: no ack, nothing remembered, the intercom told."""
    session = opened()
    raw = '{"type":"call_over","event_ids":["press-7"]}'
    assert session.receive(raw, 1.0) == [HangUp(("press-7",))]
    assert session.receive(raw, 2.0) == [HangUp(("press-7",))]


def test_call_over_before_welcome_or_malformed_is_a_problem() -> None:
    session = LaneSession("P1-IN", "secret")
    session.connected(0.0)
    [early] = session.receive('{"type":"call_over","event_ids":["press-7"]}', 0.5)
    assert isinstance(early, Problem) and early.code == "out_of_order"
    session.receive(WELCOME, 1.0)
    [bad] = session.receive('{"type":"call_over","event_ids":[]}', 1.5)
    assert isinstance(bad, Problem) and bad.code == "malformed"


def test_new_command_is_acked_then_executed() -> None:
    """A command the lane has not seen is acknowledged and handed to the driver."""
    session = opened()
    assert session.receive(OPEN_C1, 1.0) == [Ack("c1"), Execute(OpenGate("c1", "paid_not_lifted"))]


def test_command_sent_again_while_running_is_only_acked() -> None:
    """A resend during execution does not start a second lift."""
    session = opened()
    session.receive(OPEN_C1, 1.0)
    assert session.receive(OPEN_C1, 2.0) == [Ack("c1")]


def test_finished_command_sent_again_is_answered_from_memory_across_reconnect() -> None:
    """The lane never executes an id twice, even after the link dropped."""
    session = opened()
    session.receive(OPEN_C1, 1.0)
    session.disconnected()
    assert session.finished("c1", None, 2.0) == []  # link down: the centre will resend
    session.connected(3.0)
    session.receive(WELCOME, 3.0)
    assert session.receive(OPEN_C1, 3.5) == [Ack("c1"), Done("c1")]


def test_a_done_keeps_its_detail_on_one_line_and_a_resend_gets_it_again() -> None:
    """What the device could not confirm goes with the done, flattened to the one line
    the wire takes, and a resent command is answered with the same detail."""
    session = opened()
    session.receive(OPEN_C1, 1.0)
    said = session.finished("c1", None, 2.0, "accepted;\nno  sensor\u202e")
    assert said == [Done("c1", "accepted; no sensor")]
    assert session.receive(OPEN_C1, 3.0) == [Ack("c1"), Done("c1", "accepted; no sensor")]
    session.receive(OPEN_C1.replace("c1", "c2"), 4.0)
    long = session.finished("c2", None, 5.0, "y" * 500)
    assert long == [Done("c2", "y" * 199 + "…")]


def test_a_faults_words_are_made_one_line_the_centre_takes() -> None:
    """A device's or FFmpeg's words in a fault (controls, lone surrogates, bidirectional
    controls, any length) go out as one line within the link's limit, which the centre's
    reading of the message accepts."""
    session = opened()
    [sent] = session.event(
        FaultRaised("camera_unreachable", "bad\n\u202eanswer\ud800" + "x" * 600), 1.0
    )
    assert isinstance(sent, Fault)
    assert sent.detail.startswith("bad answer xxx") and sent.detail.endswith("x…")
    assert len(sent.detail) == MAX_FAULT_DETAIL
    assert Fault.from_fields(sent.fields()) == sent


def test_refusal_is_remembered_with_its_reason() -> None:
    """A resent refused command gets the same refusal, not a second attempt."""
    session = opened()
    session.receive(OPEN_C1, 1.0)
    assert session.finished("c1", "gate_motor_fault", 2.0) == [Refused("c1", "gate_motor_fault")]
    assert session.receive(OPEN_C1, 3.0) == [Ack("c1"), Refused("c1", "gate_motor_fault")]


def test_empty_refusal_reason_is_still_a_refusal() -> None:
    """A driver that refuses without a reason is not mistaken for done."""
    session = opened()
    session.receive(OPEN_C1, 1.0)
    assert session.finished("c1", "", 2.0) == [Refused("c1", "refused")]


def test_command_before_welcome_is_a_problem_and_not_executed() -> None:
    """Out-of-order commands do nothing."""
    session = LaneSession("P1-IN", "secret")
    session.connected(0.0)
    [problem] = session.receive(OPEN_C1, 0.5)
    assert isinstance(problem, Problem) and problem.code == "out_of_order"
    assert session.memory.get("c1") is None


def test_centre_error_and_garbage_are_problems() -> None:
    """Errors from the centre are surfaced for the log, not acted on."""
    session = opened()
    assert session.receive('{"type":"error","code":"malformed","detail":"x"}', 1.0) == [
        Problem("malformed", "x")
    ]
    [problem] = session.receive("nonsense", 1.0)
    assert isinstance(problem, Problem) and problem.code == "malformed"


def test_heartbeat_only_after_an_interval_of_silence() -> None:
    """Traffic counts as liveness; a heartbeat fills the gaps."""
    session = opened()
    assert session.tick(1.9) == []
    assert session.tick(2.0) == [Heartbeat()]
    session.event(GateChanged(GateState.UP), 3.0)
    assert session.tick(4.5) == []
    assert session.tick(5.0) == [Heartbeat()]


def test_cleared_fault_is_not_replayed() -> None:
    """Only standing faults are told again after a reconnect."""
    session = opened()
    session.event(FaultRaised("camera_dirty", "lens"), 1.0)
    assert session.event(FaultRaised("camera_dirty", "", active=False), 2.0) == [
        Fault("camera_dirty", "", active=False)
    ]
    session.disconnected()
    session.connected(3.0)
    assert session.receive(WELCOME, 3.0) == [Gate(GateState.UNKNOWN)]


def test_memory_is_bounded() -> None:
    """The lane remembers the most recent ids, not every id ever."""
    memory = CommandMemory(size=2)
    for command_id in ("a", "b", "c"):
        memory.ended(command_id, None)
    assert memory.get("a") is None and memory.get("c") == Memo(running=False)


def test_an_escape_seen_is_sent_at_once_or_after_a_blip_under_its_own_id() -> None:
    """The lane's own record of a car that left unpaid reaches the centre, like a read."""
    at = datetime(2026, 11, 23, 3, 0, tzinfo=UTC)
    session = opened()
    [sent] = session.event(EscapeSeen(at, "粤B12345"), 1.0)
    assert isinstance(sent, Escape) and (sent.at, sent.plate) == (at, "粤B12345")
    assert is_ident(sent.event_id)
    session.disconnected()
    assert session.event(EscapeSeen(at, "粤B54321"), 2.0) == []
    session.connected(3.0)
    [_, kept] = session.receive(WELCOME, 3.0)
    assert isinstance(kept, Escape) and kept.plate == "粤B54321"
    assert kept.event_id != sent.event_id
