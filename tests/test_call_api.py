"""The call API's refusals: every one is a JSON error with its code, and changes
nothing in the queue or the ledger."""

from __future__ import annotations

import json
import sqlite3
from typing import Any

import pytest

from console.ledger import AuditAction
from gates.lane.drivers import CallPressed
from tests.conftest import Centre, LaneFactory
from tests.desks import Desk, desk

BODY_PATHS = [
    ("/api/calls", {"lane_id": "P1-OUT"}),
    ("/api/calls/c1/transfer", {"to": "bob"}),
    ("/api/calls/c1/end", {"category": "consultation"}),
    ("/api/agents/me/state", {"state": "break"}),
]
POST_PATHS = [path for path, _ in BODY_PATHS] + [
    "/api/calls/c1/accept",
    "/api/calls/c1/decline",
    "/api/calls/c1/barge",
]


async def ledger(centre: Centre) -> list[AuditAction]:
    """What people did: the ledger without the centre's own start marker."""
    return [
        entry.action
        async for entry in centre.store.iter_audit()
        if entry.action is not AuditAction.CENTRE_STARTED
    ]


async def answered(centre: Centre, lanes: LaneFactory, alice: Desk) -> str:
    """A lane call alice has answered, picked from her queue: it may be ringing another
    agent, whose ring it ends, so no test waits out a ring."""
    lane = await lanes("P1-OUT")
    lane.driver.emit(CallPressed())
    call_id: str = (await alice.next("call"))["call"]["id"]
    assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
    return call_id


@pytest.mark.parametrize(
    ("method", "path"),
    [("GET", "/api/calls"), ("GET", "/api/agents")] + [("POST", path) for path in POST_PATHS],
)
async def test_every_call_endpoint_needs_a_session(staffed: Centre, method: str, path: str) -> None:
    """Without a login there is nothing to see or do."""
    async with staffed.client() as client:
        response = await client.request(method, path, json={})
    assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")


@pytest.mark.parametrize("path", POST_PATHS)
async def test_every_call_change_needs_the_csrf_token(staffed: Centre, path: str) -> None:
    """A page on another site riding the agent's cookie changes nothing."""
    async with staffed.client("alice") as client:
        del client.headers["X-CSRF-Token"]
        response = await client.post(path, json=dict(BODY_PATHS).get(path, {}))
    assert (response.status_code, response.json()["error"]) == (403, "csrf")
    assert await ledger(staffed) == [AuditAction.LOGIN]


@pytest.mark.parametrize(("path", "body"), BODY_PATHS)
@pytest.mark.parametrize(
    ("content", "status", "error"),
    [
        (b"{not json", 400, "bad_request"),
        (b"[]", 400, "bad_request"),
        (b'{"note": "\\ud800"}', 400, "bad_request"),  # a lone surrogate is not text
        (b'{"a": 1, "a": 2}', 400, "bad_request"),
        (json.dumps({"note": "x" * 20_000}).encode(), 413, "too_large"),
    ],
)
async def test_bodies_that_are_not_json_objects_of_text_are_refused(
    staffed: Centre, path: str, body: dict[str, Any], content: bytes, status: int, error: str
) -> None:
    """Malformed JSON, lone surrogates, repeated members, oversized bodies."""
    async with staffed.client("alice") as client:
        response = await client.post(
            path, content=content, headers={"content-type": "application/json"}
        )
    assert (response.status_code, response.json()["error"]) == (status, error)


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"lane_id": "P1-OUT", "note": "x" * 501}, "note_too_long"),
        ({"lane_id": "P1-OUT", "caller": "1" * 33}, "bad_request"),
        ({"lane_id": "P1-OUT", "caller": "138\n0013"}, "bad_request"),
        ({"lane_id": 7}, "bad_request"),
        ({}, "bad_request"),
    ],
)
async def test_bad_hotline_calls_are_refused(
    staffed: Centre, body: dict[str, Any], error: str
) -> None:
    """Notes have a limit, callers are one short line, a lane is named."""
    await staffed.add_lane("P1-OUT")
    async with desk(staffed, "alice") as alice:
        response = await alice.post("/api/calls", body)
        assert (response.status_code, response.json()["error"]) == (400, error)
        assert (await alice.client.get("/api/calls")).json() == {"calls": []}


async def test_a_hotline_call_for_an_unknown_lane_is_404(staffed: Centre) -> None:
    async with desk(staffed, "alice") as alice:
        response = await alice.post("/api/calls", {"lane_id": "NOWHERE"})
    assert (response.status_code, response.json()["error"]) == (404, "unknown_lane")


@pytest.mark.parametrize("verb", ["accept", "decline", "transfer", "end", "barge"])
async def test_an_unknown_call_is_404(staffed: Centre, verb: str) -> None:
    """Every step on a call that never was says so."""
    body = {"transfer": {"to": "bob"}, "end": {"category": "consultation"}}.get(verb)
    async with desk(staffed, "sue") as sue:
        response = await sue.post(f"/api/calls/nope/{verb}", body)
    assert (response.status_code, response.json()["error"]) == (404, "unknown_call")


@pytest.mark.parametrize(
    ("form", "error"),
    [
        ({}, "invalid_category"),
        ({"category": "parking"}, "invalid_category"),
        ({"category": "other"}, "note_required"),
        ({"category": "other", "note": " \u200b "}, "note_required"),
        ({"category": "consultation", "note": "x" * 501}, "note_too_long"),
        ({"category": "plate_misread", "plate": "粤BI2345"}, "invalid_plate"),
        ({"category": "plate_misread", "plate": "粤B1234567890123456"}, "bad_request"),
        ({"category": "payment_help", "amount_fen": -1}, "invalid_amount"),
        ({"category": "payment_help", "amount_fen": 1.5}, "invalid_amount"),
        ({"category": "payment_help", "amount_fen": True}, "invalid_amount"),
        ({"category": "payment_help", "amount_fen": "500"}, "invalid_amount"),
        ({"category": "payment_help", "amount_fen": 10**12}, "invalid_amount"),
    ],
)
async def test_a_bad_outcome_form_is_refused_and_the_call_goes_on(
    staffed: Centre, lanes: LaneFactory, form: dict[str, Any], error: str
) -> None:
    """The form is checked before the call ends: a refusal leaves it answered and unrecorded."""
    async with desk(staffed, "alice") as alice:
        call_id = await answered(staffed, lanes, alice)
        response = await alice.post(f"/api/calls/{call_id}/end", form)
        assert (response.status_code, response.json()["error"]) == (400, error)
        [call] = (await alice.client.get("/api/calls")).json()["calls"]
        assert (call["id"], call["state"]) == (call_id, "active")
    assert AuditAction.CALL_ENDED not in await ledger(staffed)


async def test_a_refused_plate_names_its_wrong_character(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The refusal says where the plate is wrong, in the plate as the centre reads it."""
    async with desk(staffed, "alice") as alice:
        call_id = await answered(staffed, lanes, alice)
        form = {"category": "plate_misread", "plate": "粤b·I2345"}
        response = await alice.post(f"/api/calls/{call_id}/end", form)
    assert response.status_code == 400
    body = response.json()
    assert (body["error"], body["plate"], body["reason"], body["position"]) == (
        "invalid_plate",
        "粤BI2345",
        "not_a_serial_character",
        2,
    )
    assert "character 3 ('I')" in body["detail"]


async def test_ending_another_agents_call_is_403(staffed: Centre, lanes: LaneFactory) -> None:
    """Only the holder (or a supervisor) ends a call."""
    async with desk(staffed, "alice") as alice, desk(staffed, "bob") as bob:
        call_id = await answered(staffed, lanes, alice)
        response = await bob.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
        transfer = await bob.post(f"/api/calls/{call_id}/transfer", {"to": "alice"})
    assert (response.status_code, response.json()["error"]) == (403, "not_your_call")
    assert (transfer.status_code, transfer.json()["error"]) == (403, "not_your_call")


async def test_a_supervisor_may_end_or_take_over_an_agents_call(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Barging in moves the call to the supervisor; an agent may not barge."""
    async with desk(staffed, "alice") as alice, desk(staffed, "sue") as sue:
        call_id = await answered(staffed, lanes, alice)
        refused = await alice.post(f"/api/calls/{call_id}/barge")
        taken = await sue.post(f"/api/calls/{call_id}/barge")
        ended = await sue.post(f"/api/calls/{call_id}/end", {"category": "complaint"})
    assert (refused.status_code, refused.json()["error"]) == (403, "forbidden")
    assert taken.json()["agent"] == "sue" and ended.json()["ended_by"] == "sue"


async def test_an_ended_call_cannot_be_accepted_or_ended_again(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """409 ``call_ended``: a finished call is over for everyone."""
    async with desk(staffed, "alice") as alice, desk(staffed, "bob") as bob:
        call_id = await answered(staffed, lanes, alice)
        await alice.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
        again = await alice.post(f"/api/calls/{call_id}/end", {"category": "consultation"})
        late = await bob.post(f"/api/calls/{call_id}/accept")
    for response in (again, late):
        assert (response.status_code, response.json()["error"]) == (409, "call_ended")
    assert (await ledger(staffed)).count(AuditAction.CALL_ENDED) == 1


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [
        ({"to": "alice"}, 400, "self_transfer"),
        ({"to": "nobody"}, 404, "unknown_agent"),
        ({"to": "bob", "note": "x" * 501}, 400, "note_too_long"),
        ({"to": 3}, 400, "bad_request"),
        ({}, 400, "bad_request"),
    ],
)
async def test_bad_transfers_are_refused_and_the_holder_keeps_the_call(
    staffed: Centre, lanes: LaneFactory, body: dict[str, Any], status: int, error: str
) -> None:
    async with desk(staffed, "alice") as alice:
        call_id = await answered(staffed, lanes, alice)
        response = await alice.post(f"/api/calls/{call_id}/transfer", body)
        assert (response.status_code, response.json()["error"]) == (status, error)
        [call] = (await alice.client.get("/api/calls")).json()["calls"]
        assert call["agent"] == "alice"


async def test_a_transfer_to_an_agent_who_is_not_free_is_409(
    staffed: Centre, lanes: LaneFactory
) -> None:
    async with desk(staffed, "alice") as alice, desk(staffed, "bob") as bob:
        call_id = await answered(staffed, lanes, alice)
        await bob.post("/api/agents/me/state", {"state": "break", "reason": "lunch"})
        response = await alice.post(f"/api/calls/{call_id}/transfer", {"to": "bob"})
    assert (response.status_code, response.json()["error"]) == (409, "not_available")


async def test_declining_a_call_not_rung_to_you_is_409(staffed: Centre, lanes: LaneFactory) -> None:
    async with desk(staffed, "alice") as alice, desk(staffed, "bob") as bob:
        lane = await lanes("P1-OUT")
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        refused = await bob.post(f"/api/calls/{call_id}/decline")
        declined = await alice.post(f"/api/calls/{call_id}/decline")
        assert (refused.status_code, refused.json()["error"]) == (409, "not_ringing")
        assert declined.status_code == 200
        assert (await bob.next("ring"))["call_id"] == call_id


@pytest.mark.parametrize(
    ("body", "error"),
    [
        ({"state": "offline"}, "unknown_state"),
        ({"state": "on_call"}, "unknown_state"),
        ({"state": None}, "unknown_state"),
        ({"state": "break", "reason": "x" * 65}, "bad_request"),
    ],
)
async def test_bad_agent_states_are_refused(
    staffed: Centre, body: dict[str, Any], error: str
) -> None:
    async with desk(staffed, "alice") as alice:
        response = await alice.post("/api/agents/me/state", body)
    assert (response.status_code, response.json()["error"]) == (400, error)


async def test_choosing_a_break_while_on_a_call_is_409(staffed: Centre, lanes: LaneFactory) -> None:
    async with desk(staffed, "alice") as alice:
        await answered(staffed, lanes, alice)
        response = await alice.post("/api/agents/me/state", {"state": "break"})
    assert (response.status_code, response.json()["error"]) == (409, "on_call")


async def test_a_step_the_ledger_cannot_record_is_not_taken(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """No audit, no step: when the write fails the answer is 503 and the call is as it
    was; once the database takes writes again the same answer goes through."""
    async with desk(staffed, "alice") as alice:
        lane = await lanes("P1-OUT")
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        await alice.call(call_id, "ringing")  # told once written: the ring goes before
        with sqlite3.connect(staffed.settings.database) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE UPDATE ON call_state"
                " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        refused = await alice.post(f"/api/calls/{call_id}/accept")
        assert (refused.status_code, refused.json()["error"]) == (503, "audit_failed")
        [call] = (await alice.client.get("/api/calls")).json()["calls"]
        assert (call["state"], call["agent"]) == ("ringing", None)
        with sqlite3.connect(staffed.settings.database) as conn:
            conn.execute("DROP TRIGGER refuse")
        assert (await alice.post(f"/api/calls/{call_id}/accept")).status_code == 200
    assert (await ledger(staffed)).count(AuditAction.CALL_ACCEPTED) == 1


async def test_a_ring_whose_step_cannot_be_recorded_is_taken_back(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A ring goes out before its step is on disk; when the write then fails, the agent
    hears it stop as ``unrecorded`` and is shown their calls without it, and the call
    never appears anywhere. Once the database takes writes again, a press rings for real."""
    async with desk(staffed, "alice") as alice:
        lane = await lanes("P1-OUT")
        with sqlite3.connect(staffed.settings.database) as conn:
            conn.execute(
                "CREATE TRIGGER refuse BEFORE UPDATE ON call_state"
                " BEGIN SELECT RAISE(ABORT, 'disk trouble'); END"
            )
        lane.driver.emit(CallPressed())
        call_id = (await alice.next("ring"))["call_id"]
        seen: list[dict[str, Any]] = []
        while not seen or seen[-1]["type"] != "calls":
            seen.append(json.loads(await alice.ws.recv()))
        assert {"type": "ring_stopped", "call_id": call_id, "reason": "unrecorded"} in seen
        assert [m for m in seen if m["type"] == "call"] == []
        assert seen[-1]["calls"] == []
        assert (await alice.client.get("/api/calls")).json()["calls"] == []
        with sqlite3.connect(staffed.settings.database) as conn:
            conn.execute("DROP TRIGGER refuse")
        lane.driver.emit(CallPressed())
        again = (await alice.next("ring"))["call_id"]
        assert (await alice.call(again, "ringing"))["lane_id"] == "P1-OUT"
    assert (await ledger(staffed)).count(AuditAction.CALL_PLACED) == 1
