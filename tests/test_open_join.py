"""Two agents answering one driver: a second open of a lane joins the first instead of
lifting the barrier again, and both are in the ledger."""

from __future__ import annotations

import asyncio

from console.ledger import AuditAction
from tests.conftest import Centre, LaneFactory


async def ledger(
    centre: Centre, *actions: AuditAction
) -> list[tuple[str, str | None, dict[str, object]]]:
    return [
        (e.actor, e.command_id, dict(e.detail))
        async for e in centre.store.iter_audit()
        if e.action in actions
    ]


async def test_two_agents_opening_at_once_lift_the_barrier_once(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The second open waits for the first and shares its outcome; one lift."""
    lane = await lanes("P1-OUT")
    lane.driver.hold = asyncio.Event()
    async with staffed.client("alice") as alice, staffed.client("bob") as bob:
        first = asyncio.create_task(
            alice.post("/api/lanes/P1-OUT/open", json={"reason": "paid_not_lifted"})
        )
        await lane.driver.lifting.wait()
        bob_asked = asyncio.Event()
        unsubscribe = staffed.audit.subscribe(
            lambda e: bob_asked.set() if e.actor == "bob" else None
        )
        second = asyncio.create_task(
            bob.post("/api/lanes/P1-OUT/open", json={"reason": "no_entry_record"})
        )
        # Bob's request is on record while the barrier is still rising.
        async with asyncio.timeout(10):
            await bob_asked.wait()
        unsubscribe()
        lane.driver.hold.set()
        alice_body, bob_body = (await first).json(), (await second).json()
    assert lane.driver.opens == 1
    assert alice_body["outcome"] == bob_body["outcome"] == "done"
    assert bob_body["joined"] == alice_body["command_id"] != bob_body["command_id"]
    assert "joined" not in alice_body
    requests = await ledger(staffed, AuditAction.GATE_OPEN_REQUESTED)
    outcomes = await ledger(staffed, AuditAction.GATE_OPEN_OUTCOME)
    assert [(actor, detail.get("joins")) for actor, _, detail in requests] == [
        ("alice", None),
        ("bob", alice_body["command_id"]),
    ]
    assert sorted((actor, cid, detail.get("joined")) for actor, cid, detail in outcomes) == [
        ("alice", alice_body["command_id"], None),
        ("bob", bob_body["command_id"], alice_body["command_id"]),
    ]


async def test_an_open_right_after_one_that_lifted_joins_it(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Within the join window after a done open, a second open is not sent again."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as alice, staffed.client("bob") as bob:
        first = await alice.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
        second = await bob.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
    assert lane.driver.opens == 1
    assert second.json()["joined"] == first.json()["command_id"]
    assert second.json()["outcome"] == "done"


async def test_an_open_after_a_refused_one_is_sent(staffed: Centre, lanes: LaneFactory) -> None:
    """A refusal is no lift: the next open goes to the lane as a command of its own."""
    lane = await lanes("P1-OUT")
    lane.driver.refuse = "gate_motor_fault"
    async with staffed.client("alice") as alice, staffed.client("bob") as bob:
        refused = await alice.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
        lane.driver.refuse = None
        retried = await bob.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
    assert refused.json()["outcome"] == "refused"
    assert retried.json()["outcome"] == "done" and "joined" not in retried.json()
    assert lane.driver.opens == 1


async def test_opens_of_different_lanes_never_join(staffed: Centre, lanes: LaneFactory) -> None:
    """The rule is per lane."""
    one, two = await lanes("P1-OUT"), await lanes("P2-OUT")
    async with staffed.client("alice") as alice:
        a = await alice.post("/api/lanes/P1-OUT/open", json={"reason": "emergency"})
        b = await alice.post("/api/lanes/P2-OUT/open", json={"reason": "emergency"})
    assert "joined" not in a.json() and "joined" not in b.json()
    assert one.driver.opens == two.driver.opens == 1
