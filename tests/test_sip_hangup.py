"""How a SIP intercom's call ends, over real UDP: the centre's call is over and the
lane says BYE; the door station gives up with CANCEL before the lane answers or as its
200 OK crosses the CANCEL (RFC 3261 §9); both sides hang up at once; a re-INVITE
crosses the lane's BYE; the lane's BYE is lost on the LAN, or never answered, and is
sent again (RFC 3261 §17.1.2.2). Each leaves no call behind: no press the centre would
ring, no RTP port held (the lanes here have one port pair, so a leaked one refuses the
next call with 503)."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field

from gates.hardware.sip.timers import retransmits
from gates.lane.drivers import CallEnded, CallPressed
from tests.emulators.sip_intercom import Message
from tests.test_sip_intercom import Lane, lane_with_door

FAST_T1 = 0.05  # timer E's first wait, so timer F (64 T1) comes in 3.2 s


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
    with logged("lane.sip.bye_answered") as answered:
        async with lane_with_door(rtp_pairs=1, t1_s=FAST_T1) as lane:
            await lane.door.call()
            press = await pressed(lane)
            call_id = lane.door.dialog.call_id if lane.door.dialog else ""

            lane.device.end_call((press,))  # the agent hangs up as the driver does
            bye = await lane.door.hang_up()
            await answered.wait()  # the lane's resending is over: no BYE can follow

            assert bye.status == 200
            # The lane's, answered 481 by a door with no call left: final, sent once.
            assert answered.lines == [
                f"lane.sip.bye_answered device=intercom call={call_id} status=481 sent=1"
            ]
            [crossed] = byes(lane)
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


@dataclass
class Logged:
    """The lane's log lines of one event, as they come (logged from the loop's own
    thread, so the event can be set there)."""

    lines: list[str] = field(default_factory=list)
    came: asyncio.Event = field(default_factory=asyncio.Event)

    async def wait(self) -> None:
        async with asyncio.timeout(10):
            await self.came.wait()


@contextlib.contextmanager
def logged(event: str) -> Iterator[Logged]:
    seen = Logged()

    class Watch(logging.Handler):
        def emit(self, record: logging.LogRecord) -> None:
            if record.getMessage().startswith(event):
                seen.lines.append(record.getMessage())
                seen.came.set()

    watch = Watch(logging.INFO)
    lane_log = logging.getLogger("seat.lane")
    level = lane_log.level
    lane_log.setLevel(logging.INFO)
    lane_log.addHandler(watch)
    try:
        yield seen
    finally:
        lane_log.removeHandler(watch)
        lane_log.setLevel(level)


async def test_a_lost_bye_is_sent_again_until_the_door_answers_it() -> None:
    with logged("lane.sip.bye_answered") as answered:
        async with lane_with_door(rtp_pairs=1, t1_s=FAST_T1) as lane:
            lane.door.drop_byes = 2  # the first two never reach it
            await lane.door.call()
            press = await pressed(lane)
            call_id = lane.door.dialog.call_id if lane.door.dialog else ""

            lane.device.end_call((press,))
            # The third, answered 200; once logged, the resending is over.
            await answered.wait()

            first, *again = byes(lane)
            assert len(again) == 2  # and none after the 200
            assert first.start.startswith("BYE sip:door@127.0.0.1:")
            assert first.header("call-id") == call_id
            assert first.cseq[1] == "BYE"
            assert again == [first, first]  # the same request: line, headers, Via branch
            assert answered.lines == [
                f"lane.sip.bye_answered device=intercom call={call_id} status=200 sent=3"
            ]
            await answered_again(lane, calls=2)


async def test_a_bye_never_answered_stops_at_timer_f_and_is_logged() -> None:
    with logged("lane.sip.bye_unanswered") as unanswered:
        async with lane_with_door(rtp_pairs=1, t1_s=FAST_T1) as lane:
            lane.door.ignore_byes = True
            await lane.door.call()
            press = await pressed(lane)
            call_id = lane.door.dialog.call_id if lane.door.dialog else ""

            lane.device.end_call((press,))
            await unanswered.wait()

            sent = byes(lane)
            assert len(sent) == len(retransmits(FAST_T1))  # one per wait, the last at 31 T1
            assert all(bye == sent[0] for bye in sent)
            assert sent[0].header("call-id") == call_id
            assert unanswered.lines == [
                f"lane.sip.bye_unanswered device=intercom call={call_id} "
                f"sent={len(sent)} after_s={64 * FAST_T1:g}"
            ]
            await answered_again(lane, calls=2)
            assert len(byes(lane)) == len(sent)  # over: the next call sent no more


async def test_a_new_call_while_the_old_bye_is_resent_is_unaffected() -> None:
    with logged("lane.sip.bye_unanswered") as unanswered:
        async with lane_with_door(rtp_pairs=1, t1_s=FAST_T1) as lane:
            lane.door.ignore_byes = True
            await lane.door.call()
            press = await pressed(lane)
            old = lane.door.dialog.call_id if lane.door.dialog else ""
            lane.device.end_call((press,))
            async with asyncio.timeout(10):
                await lane.door.bye_came.wait()

            await answered_again(lane, calls=2)
            assert lane.door.dialog is not None and lane.door.dialog.call_id != old
            await unanswered.wait()  # the old call's BYE gave up meanwhile

            assert {bye.header("call-id") for bye in byes(lane)} == {old}
            assert (await lane.door.reinvite()).status == 200  # the new call is still up
            assert not any(isinstance(event, CallEnded) for event in lane.events.seen)


async def test_a_bye_answered_only_100_trying_is_sent_again_at_t2_spacing() -> None:
    with logged("lane.sip.bye_unanswered") as unanswered:
        async with lane_with_door(rtp_pairs=1, t1_s=FAST_T1) as lane:
            lane.door.trying_byes = True
            await lane.door.call()
            press = await pressed(lane)

            lane.device.end_call((press,))
            await unanswered.wait()

            # Sent at 0 and T1, when the 100 to the first is back within T1; then timer
            # E is T2 (4 s), past timer F (3.2 s): fewer sends than to a silent door.
            sent = len(byes(lane))
            assert sent < len(retransmits(FAST_T1))
            assert unanswered.lines == [
                f"lane.sip.bye_unanswered device=intercom call={byes(lane)[0].header('call-id')} "
                f"sent={sent} after_s={64 * FAST_T1:g}"
            ]
