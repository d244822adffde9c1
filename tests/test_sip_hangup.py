"""How a SIP intercom's call ends, over real UDP: the centre's call is over and the
lane says BYE; the door station gives up with CANCEL before the lane answers or as its
200 OK crosses the CANCEL (RFC 3261 §9); both sides hang up at once; a re-INVITE
crosses the lane's BYE. Each leaves no call behind: no press the centre would ring, no
RTP port held (the lanes here have one port pair, so a leaked one refuses the next
call with 503)."""

from __future__ import annotations

from gates.lane.drivers import CallEnded, CallPressed
from tests.emulators.sip_intercom import Message
from tests.test_sip_intercom import Lane, lane_with_door


async def pressed(lane: Lane) -> str:
    """The event id of the lane's one press so far, once the lane has the door's ACK
    of its 200 OK (an agent hangs up long after it)."""
    await lane.events.wait(lambda event: isinstance(event, CallPressed))
    assert (await lane.door.ping()).status == 200
    [press] = [event for event in lane.events.seen if isinstance(event, CallPressed)]
    return press.event_id


def byes(lane: Lane) -> list[Message]:
    return [message for message in lane.door.received if message.method == "BYE"]


async def answered_again(lane: Lane, calls: int) -> None:
    """The door's next press is answered, with its RTP port, and rings as press ``calls``."""
    assert (await lane.door.call()).status == 200
    await lane.events.wait(lambda event: isinstance(event, CallPressed), count=calls)


async def test_the_centre_ending_the_call_sends_bye_to_the_intercom() -> None:
    async with lane_with_door(rtp_pairs=1) as lane:
        answer = await lane.door.call()
        press = await pressed(lane)
        dialog = lane.door.dialog
        assert dialog is not None

        lane.device.end_call(("a-later-press",))  # another call's end: this one stays
        assert (await lane.door.reinvite()).status == 200
        assert byes(lane) == []

        lane.device.end_call(("an-older-press", press))
        await lane.door.lane_hung_up.wait()
        [bye] = byes(lane)
        assert bye.start.startswith("BYE sip:door@127.0.0.1:")
        assert bye.header("call-id") == dialog.call_id
        assert bye.header("from") == answer.header("to")  # the lane's side, its tag
        assert bye.header("to").endswith(f";tag={dialog.local_tag}")
        assert bye.cseq[1] == "BYE"
        # The lane ended it, so it does not tell the centre the driver hung up.
        assert not any(isinstance(event, CallEnded) for event in lane.events.seen)
        await answered_again(lane, calls=2)


async def test_a_cancel_before_the_answer_is_487_and_rings_nobody() -> None:
    async with lane_with_door(rtp_pairs=1) as lane:
        gave_up = await lane.door.give_up()

        assert gave_up.cancel.status == 200
        assert gave_up.invite.status == 487
        assert gave_up.bye is None
        await answered_again(lane, calls=1)  # the first press the lane made
        assert lane.events.calls() == 1


async def test_a_cancel_crossing_the_200_ok_ends_the_call_with_the_door_s_bye() -> None:
    async with lane_with_door(rtp_pairs=1) as lane:
        gave_up = await lane.door.give_up(crossing=True)

        assert gave_up.invite.status == 200
        assert gave_up.cancel.status == 200  # too late to cancel: no 487 (§9.2)
        assert gave_up.bye is not None and gave_up.bye.status == 200
        press = await pressed(lane)
        await lane.events.wait(lambda event: event == CallEnded(press))
        await answered_again(lane, calls=2)


async def test_byes_crossing_end_the_call_once_on_both_sides() -> None:
    async with lane_with_door(rtp_pairs=1) as lane:
        await lane.door.call()
        press = await pressed(lane)

        lane.device.end_call((press,))  # the agent hangs up as the driver does
        bye = await lane.door.hang_up()

        assert bye.status == 200
        [crossed] = byes(lane)  # the lane's, answered 481 by a door with no call left
        assert crossed.cseq[1] == "BYE"
        assert not any(isinstance(event, CallEnded) for event in lane.events.seen)
        await answered_again(lane, calls=2)


async def test_a_reinvite_crossing_the_lane_s_bye_is_481_not_a_new_call() -> None:
    async with lane_with_door(rtp_pairs=1) as lane:
        await lane.door.call()
        press = await pressed(lane)

        lane.device.end_call((press,))
        reoffer = await lane.door.reinvite()

        assert reoffer.status == 481
        await lane.door.lane_hung_up.wait()
        assert lane.events.calls() == 1
        await answered_again(lane, calls=2)
