"""The call service end to end: lanes pressing their call button over the real lane
link, agents at real console streams and HTTP requests, and what the SQLite file holds
after: the ledger's entries and the finished calls' records."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import json
import logging
import random
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta

import pytest
from websockets.asyncio.client import ClientConnection, connect

from console.accounts import set_coverage
from console.calls.record import ActionKind, ActionTaken, CallRecord, Category, Outcome
from console.ledger import AuditAction, AuditEntry
from console.models import Role
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from gates.backoff import Backoff
from gates.lane.agent import LaneAgent
from gates.lane.drivers import CallEnded, CallPressed
from gates.lane.session import LaneSession
from gates.lane.sim import SimLane
from tests.conftest import Centre, Lane, LaneFactory, start_centre, start_lane
from tests.desks import desk
from tests.details import at, each
from tests.test_sim import QUIET


@contextlib.asynccontextmanager
async def centre_with(settings: Settings) -> AsyncIterator[Centre]:
    """A centre of its own, on ``settings`` (the test's with short timers)."""
    store = await SQLiteStore.open(settings.database)
    running = await start_centre(settings, store)
    try:
        yield running.centre(store, settings)
    finally:
        await running.stop()
        await store.close()


@contextlib.asynccontextmanager
async def lane_at(centre: Centre, lane_id: str) -> AsyncIterator[Lane]:
    lane = await start_lane(centre, lane_id)
    try:
        yield lane
    finally:
        lane.task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await lane.task


async def call_entries(centre: Centre) -> list[AuditEntry]:
    return [entry async for entry in centre.store.iter_audit() if entry.action.startswith("call_")]


async def records(centre: Centre) -> list[CallRecord]:
    now = datetime.now(UTC)
    return await centre.store.call_records(now - timedelta(hours=1), now + timedelta(hours=1))


# ------------------------------------------------------------------ ringing and answering


async def test_a_lane_call_rings_an_agent_and_leaves_the_other_queues_when_answered(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The agent idle longest hears the ring; the moment they answer, every other agent
    sees the call taken, and the ring stops."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice, desk(staffed, "bob") as bob:
        lane.driver.emit(CallPressed())
        ring = await alice.next("ring")
        call_id = ring["call_id"]
        assert ring["call"]["lane_id"] == "P1-OUT" and ring["call"]["offered_to"] == "alice"
        assert ring["call"]["direction"] == "exit" and ring["until"] is not None
        waiting = await bob.call(call_id, "ringing")
        assert waiting["may_accept"] is True  # anyone covering the lane may pick it
        answered = await alice.post(f"/api/calls/{call_id}/accept")
        assert answered.status_code == 200
        assert (answered.json()["state"], answered.json()["agent"]) == ("active", "alice")
        taken = await bob.call(call_id, "active")
        assert taken["agent"] == "alice" and taken["may_accept"] is False
        stopped = await alice.next("ring_stopped")
        assert stopped == {"type": "ring_stopped", "call_id": call_id, "reason": "answered"}


async def test_two_agents_racing_to_answer_one_wins_and_the_others_hear_who(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Accepts sent at the same moment: exactly one 200, every other a 409 naming the holder."""
    for name in ("carol", "dave"):
        await staffed.add_user(name, Role.AGENT)
    lane = await lanes("P1-OUT")
    async with contextlib.AsyncExitStack() as stack:
        names = ("alice", "bob", "carol", "dave")
        desks = [await stack.enter_async_context(desk(staffed, name)) for name in names]
        lane.driver.emit(CallPressed())
        call_id = (await desks[0].next("ring"))["call_id"]
        answers = await asyncio.gather(*(d.post(f"/api/calls/{call_id}/accept") for d in desks))
    winners = [
        d.name for d, answer in zip(desks, answers, strict=True) if answer.status_code == 200
    ]
    assert len(winners) == 1
    losers = [answer.json() for answer in answers if answer.status_code != 200]
    assert [answer.status_code for answer in answers].count(409) == 3
    assert {(body["error"], body["holder"]) for body in losers} == {("call_taken", winners[0])}
    accepted = [e for e in await call_entries(staffed) if e.action is AuditAction.CALL_ACCEPTED]
    assert [e.actor for e in accepted] == winners


async def test_an_agent_who_does_not_cover_the_car_park_is_not_rung_nor_shown_the_call(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Coverage routes calls: bob answers another car park, so alice is rung, not him."""
    await staffed.store.set_coverage("bob", ["解放路停车场"])
    lane = await lanes("P1-OUT")
    async with desk(staffed, "bob") as bob, desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        assert (await bob.client.get("/api/calls")).json() == {"calls": []}
        refused = await bob.post(f"/api/calls/{call_id}/accept")
        assert (refused.status_code, refused.json()["error"]) == (403, "not_covered")


async def test_a_coverage_change_reaches_an_agent_online_without_a_new_login(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """``seat user coverage`` on a running centre: bob is rung for the waiting call once the
    change feed brings it, and his session stands."""
    await staffed.store.set_coverage("bob", ["解放路停车场"])
    lane = await lanes("P1-OUT")
    async with desk(staffed, "bob") as bob:
        lane.driver.emit(CallPressed())
        await staffed.wait_status("P1-OUT", lambda s: s.last_call_at is not None)
        await set_coverage(staffed.store, "bob", ["解放路停车场", "人民路停车场"])
        await staffed.changes.poll()
        ring = await bob.next("ring")
        assert ring["call"]["car_park"] == "人民路停车场"
        assert (await bob.client.get("/api/me")).status_code == 200


async def test_a_press_repeated_while_the_call_waits_joins_it(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A driver pressing again does not queue a second call."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        lane.driver.emit(CallPressed())
        joined = await alice.next("call", lambda m: m["call"]["presses"] == 2)
        assert joined["call"]["id"] == call_id
        assert [c["id"] for c in (await alice.client.get("/api/calls")).json()["calls"]] == [
            call_id
        ]


# ------------------------------------------------------------------ the call's life


async def test_a_lane_call_that_is_over_is_told_to_its_lane_by_its_presses(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The agent's end, and the centre's abandoning a call nobody answered, reach the
    lane as ``call_over`` naming the presses, so an intercom still off-hook hangs up."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed("press-1"))
        call_id = (await alice.next("ring"))["call_id"]
        lane.driver.emit(CallPressed("press-2"))  # pressed again while it rang: one call
        await alice.next("call", lambda m: m["call"]["id"] == call_id and m["call"]["presses"] == 2)
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
        await alice.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
        async with asyncio.timeout(10):
            assert await lane.driver.calls_over.get() == ("press-1", "press-2")


async def test_a_simulated_lane_takes_call_over_in_its_stride(
    staffed: Centre, caplog: pytest.LogCaptureFixture
) -> None:
    """The simulator's intercom holds no call: told one is over, the lane logs it and
    carries on, with no problem on its link (the open sent after it is done)."""
    caplog.set_level(logging.INFO, "seat.lane")
    token = await staffed.add_lane("P1-OUT")
    sim = SimLane("P1-OUT", random.Random(1), QUIET)
    session = LaneSession("P1-OUT", token, heartbeat_ms=1000)
    agent = LaneAgent([staffed.link], session, sim, Backoff(first=0.05, cap=0.2))
    running = asyncio.create_task(agent.run())
    try:
        async with asyncio.timeout(10):
            await agent.connected.wait()
        async with desk(staffed, "alice") as alice:
            sim.press_call()
            call_id = (await alice.next("ring"))["call_id"]
            assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
            await alice.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
            opened = await alice.post("/api/lanes/P1-OUT/open", {"reason": "paid_not_lifted"})
            assert opened.json()["outcome"] == "done"
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)
    assert "lane.call.over lane=P1-OUT" in caplog.text
    assert "lane.link.problem" not in caplog.text


async def test_the_lane_s_intercom_hanging_up_ends_its_call_as_the_caller(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Unanswered, the call is abandoned by the caller; answered, it ends as the
    caller's hang-up. A hang-up of a press the centre never had changes nothing."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallEnded("never-pressed"))
        lane.driver.emit(CallPressed("press-1"))
        call_id = (await alice.next("ring"))["call_id"]
        lane.driver.emit(CallEnded("press-1"))
        gone = await alice.call(call_id, "abandoned")
        assert gone["ending"] == "caller"

        lane.driver.emit(CallPressed("press-2"))
        call_id = (await alice.next("ring"))["call_id"]
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
        lane.driver.emit(CallEnded("press-2"))
        ended = await alice.call(call_id, "ended")
        assert (ended["ending"], ended["agent"]) == ("caller", "alice")


async def test_ending_with_an_outcome_records_the_call_its_gate_open_and_its_steps(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The record holds the outcome and the open the agent sent while answering; the
    ledger holds every step, the outcome and the open's id with the end."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
        opened = await alice.post("/api/lanes/P1-OUT/open", {"reason": "paid_not_lifted"})
        assert opened.json()["outcome"] == "done"
        form = {"category": "paid_not_lifted", "plate": "粤b·12345", "amount_fen": 500}
        ended = await alice.post(f"/api/calls/{call_id}/end", {**form, "note": " 已缴费 "})
        assert ended.status_code == 200 and ended.json()["state"] == "ended"
    command_id = opened.json()["command_id"]
    [record] = await records(staffed)
    assert record.call_id == call_id and record.lane_id == "P1-OUT"
    assert (record.agent, record.state.value, record.ending.value) == ("alice", "ended", "agent")
    assert record.outcome == Outcome(Category.PAID_NOT_LIFTED, "粤B12345", 500, "已缴费")
    assert record.actions == (
        ActionTaken(command_id, ActionKind.OPEN_GATE, "alice", "done", "paid_not_lifted"),
    )
    assert record.answered_at is not None and record.handle_s is not None
    assert record.wait_s >= 0 and not record.breached
    steps = await call_entries(staffed)
    assert [e.action for e in steps] == [
        AuditAction.CALL_PLACED,
        AuditAction.CALL_OFFERED,
        AuditAction.CALL_ACCEPTED,
        AuditAction.CALL_ENDED,
    ]
    assert [e.actor for e in steps] == ["lane:P1-OUT", "centre", "alice", "alice"]
    assert {e.detail["call"] for e in steps} == {call_id}
    end = steps[-1]
    assert end.reason == "paid_not_lifted"
    assert end.detail["outcome"] == {
        "category": "paid_not_lifted",
        "plate": "粤B12345",
        "amount_fen": 500,
        "note": "已缴费",
    }
    assert [at(a, "command_id") for a in each(end.detail, "actions")] == [command_id]


async def test_answering_a_lane_call_reserves_its_intercom_until_the_call_ends(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Between the answer and the console's live view nobody else can take the lane's
    intercom; the end gives it up."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        answered = await alice.post(f"/api/calls/{call_id}/accept")
        assert answered.json()["intercom"] == "alice"
        assert staffed.media.floor_holder("P1-OUT") == "alice"
        await alice.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
        assert staffed.media.floor_holder("P1-OUT") is None


async def test_a_transfer_rings_the_named_agent_who_then_holds_the_call(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Handed on with a note: bob is rung for it alone, answers, and holds the intercom."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice, desk(staffed, "bob") as bob:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        await alice.post(f"/api/calls/{call_id}/accept")
        handed = await alice.post(
            f"/api/calls/{call_id}/transfer", {"to": "bob", "note": "月卡问题"}
        )
        assert handed.status_code == 200 and handed.json()["for_agent"] == "bob"
        assert (await bob.next("ring"))["call_id"] == call_id
        assert staffed.media.floor_holder("P1-OUT") is None
        answered = await bob.post(f"/api/calls/{call_id}/accept")
        assert answered.json()["agent"] == "bob" and answered.json()["intercom"] == "bob"
        [transfer] = answered.json()["transfers"]
        assert (transfer["from_agent"], transfer["to_agent"], transfer["note"]) == (
            "alice",
            "bob",
            "月卡问题",
        )
        mine = await alice.next("agent", lambda m: m["agent"]["state"] == "wrap_up")
        assert mine["agent"]["name"] == "alice" and mine["agent"]["call_id"] == call_id
    actions = [e.action for e in await call_entries(staffed)]
    assert AuditAction.CALL_TRANSFERRED in actions
    assert actions.count(AuditAction.CALL_ACCEPTED) == 2


async def test_escalating_rings_a_supervisor(staffed: Centre, lanes: LaneFactory) -> None:
    """``"to": "supervisors"`` hands the call to whichever supervisor answers it."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "sue") as sue:
        await sue.post("/api/agents/me/state", {"state": "break", "reason": "meeting"})
        async with desk(staffed, "alice") as alice:
            lane.driver.emit(CallPressed())
            call_id = (await alice.next("ring"))["call_id"]
            await alice.post(f"/api/calls/{call_id}/accept")
            await sue.post("/api/agents/me/state", {"state": "available"})
            escalated = await alice.post(f"/api/calls/{call_id}/transfer", {"to": "supervisors"})
            assert escalated.json()["for_supervisors"] is True
            assert (await sue.next("ring"))["call_id"] == call_id


async def test_a_hotline_call_typed_in_is_queued_and_rung(staffed: Centre) -> None:
    """The agent who picked up the phone types the call in for the lane it is about."""
    await staffed.add_lane("P1-OUT")
    async with desk(staffed, "alice") as alice:
        placed = await alice.post(
            "/api/calls", {"lane_id": "P1-OUT", "caller": "138 0013 8000", "note": "卡在出口"}
        )
        assert placed.status_code == 201
        call = placed.json()
        assert (call["source"], call["caller"], call["note"]) == (
            "hotline",
            "138 0013 8000",
            "卡在出口",
        )
        assert call["car_park"] == "人民路停车场" and call["direction"] == "exit"
        assert (await alice.next("ring"))["call_id"] == call["id"]
    [placed_entry] = [e for e in await call_entries(staffed) if e.action is AuditAction.CALL_PLACED]
    assert placed_entry.actor == "alice" and placed_entry.detail["caller"] == "138 0013 8000"


async def test_a_phone_call_hung_up_unanswered_is_abandoned_by_the_caller(staffed: Centre) -> None:
    """The phone page's entries: the call is placed, and hanging up before an answer
    leaves a record with the caller's ending."""
    await staffed.add_lane("P1-OUT")
    async with staffed.client() as client:  # answered once the centre has started
        assert (await client.get("/healthz")).status_code == 200
    call = await staffed.calls.place_phone_call("P1-OUT", caller="13800138000")
    assert call.source.value == "phone" and call.state.value == "waiting"
    ended = await staffed.calls.hang_up(call.id)
    assert ended.state.value == "abandoned"
    [record] = await records(staffed)
    assert (record.source.value, record.ending.value, record.agent) == ("phone", "caller", None)


async def test_supervisors_see_every_agent_and_the_days_figures(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The board: who is doing what since when, the queue, and today's service level."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice, desk(staffed, "sue") as sue:
        await sue.post("/api/agents/me/state", {"state": "break", "reason": "meeting"})
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        await alice.post(f"/api/calls/{call_id}/accept")
        floor = (await sue.client.get("/api/agents")).json()
        refused = await alice.client.get("/api/agents")
    states = {a["name"]: (a["state"], a["call_id"], a["break_reason"]) for a in floor["agents"]}
    assert states == {"alice": ("on_call", call_id, ""), "sue": ("break", None, "meeting")}
    assert floor["board"]["answered"] == 1 and floor["board"]["waiting"] == 0
    assert floor["board"]["service_level"] == 100.0
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")


# ------------------------------------------------------------------ time


async def test_a_lane_call_nobody_answers_is_abandoned_and_recorded(settings: Settings) -> None:
    """Past ``SEAT_CALL_ABANDON_S`` the lane's call is given up; the supervisor on a break
    sees it go, and the ledger and the records say so."""
    async with centre_with(dataclasses.replace(settings, call_abandon_s=0.5)) as centre:
        await centre.add_user("sue", Role.SUPERVISOR)
        async with lane_at(centre, "P1-OUT") as lane, desk(centre, "sue") as sue:
            await sue.post("/api/agents/me/state", {"state": "break", "reason": "lunch"})
            lane.driver.emit(CallPressed())
            call_id = (await sue.next("call"))["call"]["id"]
            gone = await sue.call(call_id, "abandoned")
            assert gone["ending"] == "timeout" and gone["wait_s"] >= 0.5
        [record] = await records(centre)
        assert (record.state.value, record.ending.value, record.agent) == (
            "abandoned",
            "timeout",
            None,
        )
        steps = await call_entries(centre)
        assert [(e.action, e.actor) for e in steps] == [
            (AuditAction.CALL_PLACED, "lane:P1-OUT"),
            (AuditAction.CALL_ABANDONED, "centre"),
        ]


async def test_an_agent_who_misses_rings_goes_on_a_break_and_is_told(settings: Settings) -> None:
    """Rings that run out move on; after two in a row the agent is put on a break, with
    an alert to them (and their supervisors)."""
    async with centre_with(dataclasses.replace(settings, call_ring_s=0.3)) as centre:
        await centre.add_user("alice", Role.AGENT)
        async with lane_at(centre, "P1-OUT") as lane, desk(centre, "alice") as alice:
            lane.driver.emit(CallPressed())
            first = await alice.next("ring")
            assert (await alice.next("ring_stopped"))["reason"] == "missed"
            assert (await alice.next("ring"))["call_id"] == first["call_id"]
            alert = await alice.next("alert")
            assert alert["alert"]["kind"] == "missed_rings" and alert["alert"]["agent"] == "alice"
            me = centre.calls.queue.agent("alice")
            assert (me.state.value, me.break_reason) == ("break", "missed_rings")
            back = await alice.post("/api/agents/me/state", {"state": "available"})
            assert back.json()["state"] in ("available", "ringing")


async def test_a_console_that_comes_back_within_the_grace_keeps_its_call(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A browser that drops and reconnects carries on with the call it held."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        await alice.post(f"/api/calls/{call_id}/accept")
    async with desk(staffed, "alice") as again:
        [call] = (await again.client.get("/api/calls")).json()["calls"]
        assert (call["id"], call["state"], call["agent"]) == (call_id, "active", "alice")
        ended = await again.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
        assert ended.status_code == 200


async def test_a_call_whose_holder_does_not_come_back_returns_to_the_queue(
    settings: Settings,
) -> None:
    """Past ``SEAT_CALL_RECONNECT_S`` the call goes back, ahead of later calls, and rings
    another agent."""
    async with centre_with(dataclasses.replace(settings, call_reconnect_s=0.3)) as centre:
        for name in ("alice", "bob"):
            await centre.add_user(name, Role.AGENT)
        async with lane_at(centre, "P1-OUT") as lane, desk(centre, "bob") as bob:
            await bob.post("/api/agents/me/state", {"state": "break"})
            async with desk(centre, "alice") as alice:
                lane.driver.emit(CallPressed())
                call_id = (await alice.next("ring"))["call_id"]
                await alice.post(f"/api/calls/{call_id}/accept")
            await bob.post("/api/agents/me/state", {"state": "available"})
            assert (await bob.next("ring"))["call_id"] == call_id
            # A ring goes out before its step is written; the call's change, after.
            await bob.call(call_id, "ringing")
        requeued = [e for e in await call_entries(centre) if e.action is AuditAction.CALL_REQUEUED]
        assert [e.detail["agent"] for e in requeued] == ["alice"]


# ------------------------------------------------------------------ restarts


async def test_a_restarted_centre_still_has_its_waiting_and_active_calls(
    settings: Settings,
) -> None:
    """Close the centre and its store, start a new one on the same file: the waiting
    call waits, and the answered one is still its agent's while the grace runs."""
    async with centre_with(settings) as centre:
        await centre.add_user("alice", Role.AGENT)
        await centre.add_lane("P2-OUT")
        async with centre.client("alice") as client:
            cookie, csrf = client.cookies["seat_session"], client.headers["X-CSRF-Token"]
        async with lane_at(centre, "P1-OUT") as lane, desk(centre, "alice") as alice:
            lane.driver.emit(CallPressed())
            first = (await alice.next("ring"))["call_id"]
            await alice.post(f"/api/calls/{first}/accept")
            second = (await alice.post("/api/calls", {"lane_id": "P2-OUT"})).json()["id"]
    async with centre_with(settings) as restarted:
        headers = {"cookie": f"seat_session={cookie}", "X-CSRF-Token": csrf}
        async with restarted.client() as client:
            client.headers.update(headers)
            calls = {c["id"]: c for c in (await client.get("/api/calls")).json()["calls"]}
            assert (calls[first]["state"], calls[first]["agent"]) == ("active", "alice")
            assert calls[second]["state"] == "waiting"
            holder = restarted.calls.queue.agent("alice")
            assert holder.state.value == "on_call" and holder.grace_until is not None
            assert restarted.media.floor_holder("P1-OUT") == "alice"
            async with desk(restarted, "alice") as alice:
                ended = await alice.post(
                    f"/api/calls/{first}/end", {"category": "other", "note": "再次通话"}
                )
                assert ended.status_code == 200
                await alice.post("/api/agents/me/state", {"state": "available"})
                assert (await alice.next("ring"))["call_id"] == second


async def test_a_restarted_centre_remembers_the_days_finished_calls(settings: Settings) -> None:
    """The saved state holds the open calls only; the finished ones come back from beside
    their records: today's figures stay whole, and a press the lane sends again after
    the restart is still the call it made, while a new press is a new call."""
    async with centre_with(settings) as centre:
        await centre.add_user("alice", Role.AGENT)
        await centre.add_user("sue", Role.SUPERVISOR)
        token = await centre.add_lane("P1-OUT")
        async with connect(centre.link) as ws, desk(centre, "alice") as alice:
            await lane_hello(ws, "P1-OUT", token)
            await ws.send('{"type":"call","event_id":"e1"}')
            call_id = (await alice.next("ring"))["call_id"]
            await alice.post(f"/api/calls/{call_id}/accept")
            ended = await alice.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
            assert ended.status_code == 200
        saved = await centre.store.load_call_state()
        assert saved is not None and json.loads(saved.text)["queue"]["calls"] == []
    async with centre_with(settings) as restarted:
        async with connect(restarted.link) as ws, desk(restarted, "sue") as sue:
            await lane_hello(ws, "P1-OUT", token)
            await ws.send('{"type":"call","event_id":"e1"}')
            await ws.send('{"type":"call","event_id":"e2"}')
            second = await sue.next("call", lambda m: m["call"]["state"] != "ended")
            floor = (await sue.client.get("/api/agents")).json()
        placed = [e for e in await call_entries(restarted) if e.action == AuditAction.CALL_PLACED]
    assert second["call"]["id"] != call_id
    assert [e.detail["call"] for e in placed] == [call_id, second["call"]["id"]]
    assert floor["board"]["answered"] == 1


async def lane_hello(ws: ClientConnection, lane: str, token: str) -> None:
    await ws.send(json.dumps({"type": "hello", "v": 1, "lane": lane, "token": token}))
    assert json.loads(await ws.recv())["type"] == "welcome"
