"""One call queue across two servers of one centre (one SQLite file, one real Redis):
a lane's call on one rings an agent at the other, two agents on two servers racing for
one call leave one answer in the ledger, a ring's timer fires on the server left when
the one that rang stops, an agent is online while a tab is open on either, a server
starting leaves the others' agents online, a step refused on a state another server
moved is tried again on the latest (its ring taken back first), and a call a server
never heard of can still be answered through it."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import replace

import pytest

from console.calls.presence import tabs_key
from console.calls.saved import parse_state
from console.ledger import AuditAction, AuditEntry
from console.models import Role
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from gates.lane.drivers import CallPressed
from tests.conftest import Centre, Lane, servers_of_one_centre, start_centre, start_lane
from tests.desks import Desk, desk, tab
from tests.netproxy import CuttableProxy
from tests.services import RedisServer


async def staff(cluster: list[Centre], *users: tuple[str, Role]) -> None:
    """Accounts made through the first server, known to both."""
    first, second = cluster
    for name, role in users:
        await first.add_user(name, role)
    await second.changes.poll()
    links = [centre.redis for centre in cluster if centre.redis is not None]
    async with asyncio.timeout(10):
        await asyncio.gather(*(link.wait_up() for link in links))


@contextlib.asynccontextmanager
async def lane_at(centre: Centre, lane_id: str) -> AsyncIterator[Lane]:
    lane = await start_lane(centre, lane_id)
    try:
        yield lane
    finally:
        await lane.stop()


async def call_entries(centre: Centre, action: AuditAction) -> list[AuditEntry]:
    return [entry async for entry in centre.store.iter_audit() if entry.action == action]


@contextlib.asynccontextmanager
async def tab_counts(centre: Centre) -> AsyncIterator[Callable[[], Awaitable[None]]]:
    """Waits for the server to take a count out of its tabs in Redis (the tests' own
    Redis tells of each change to a key when asked to)."""
    assert centre.redis is not None
    client = centre.redis.client
    await client.config_set("notify-keyspace-events", "Kh")
    pubsub = client.pubsub()
    await pubsub.subscribe(f"__keyspace@0__:{tabs_key(centre.redis.server)}")

    async def removed() -> None:
        async with asyncio.timeout(10):
            while True:
                message = await pubsub.get_message(ignore_subscribe_messages=True, timeout=10)
                if message is not None and message["data"] == b"hdel":
                    return

    try:
        yield removed
    finally:
        await pubsub.aclose()  # type: ignore[no-untyped-call]  # redis-py's own


async def test_a_lane_call_on_one_server_rings_an_agent_at_the_other(
    cluster: list[Centre],
) -> None:
    """The lane is linked to the first server, alice's console to the second: she is
    rung, and her answer through the second is the call's answer on both."""
    first, second = cluster
    await staff(cluster, ("alice", Role.AGENT))
    async with lane_at(first, "P1-OUT") as lane, desk(second, "alice") as alice:
        lane.driver.emit(CallPressed())
        ring = await alice.next("ring")
        assert ring["call"]["lane_id"] == "P1-OUT" and ring["call"]["offered_to"] == "alice"
        call_id = ring["call_id"]
        answered = await alice.post(f"/api/calls/{call_id}/accept")
        assert answered.status_code == 200
        assert (answered.json()["state"], answered.json()["agent"]) == ("active", "alice")
        async with first.client("alice") as seen_from_first:
            calls = (await seen_from_first.get("/api/calls")).json()["calls"]
        assert [(c["id"], c["state"], c["agent"]) for c in calls] == [(call_id, "active", "alice")]
    placed = await call_entries(first, AuditAction.CALL_PLACED)
    assert [(e.actor, e.lane) for e in placed] == [("lane:P1-OUT", "P1-OUT")]


async def test_two_agents_on_two_servers_racing_for_one_call_leave_one_answer(
    cluster: list[Centre],
) -> None:
    """alice (first server) and bob (second) accept at the same moment: one 200, the
    other the queue's refusal naming the winner, and ONE accept in the ledger."""
    first, second = cluster
    await staff(cluster, ("alice", Role.AGENT), ("bob", Role.AGENT))
    async with (
        lane_at(first, "P1-OUT") as lane,
        desk(first, "alice") as alice,
        desk(second, "bob") as bob,
    ):
        lane.driver.emit(CallPressed())
        desks: list[Desk] = [alice, bob]
        rung = await asyncio.gather(
            *(d.next("call", lambda m: m["call"]["state"] == "ringing") for d in desks)
        )
        call_id = rung[0]["call"]["id"]
        assert rung[1]["call"]["id"] == call_id
        answers = await asyncio.gather(*(d.post(f"/api/calls/{call_id}/accept") for d in desks))
        statuses = sorted(answer.status_code for answer in answers)
        assert statuses == [200, 409]
        winner = next(d.name for d, a in zip(desks, answers, strict=True) if a.status_code == 200)
        loser = next(a.json() for a in answers if a.status_code == 409)
        assert (loser["error"], loser["holder"]) == ("call_taken", winner)
        for other in desks:  # each console, on either server, hears who has it
            held = await other.call(call_id, "active")
            assert held["agent"] == winner
    accepted = await call_entries(first, AuditAction.CALL_ACCEPTED)
    assert [(e.actor, e.detail["call"]) for e in accepted] == [(winner, call_id)]


@pytest.mark.parametrize("settings", [{"call_ring_s": 1.0}], indirect=True)
async def test_a_ring_runs_out_on_the_server_left_when_the_one_that_rang_stops(
    cluster: list[Centre],
) -> None:
    """The first server rings alice, then its call service stops: the second server's
    timer ends the ring and rings bob."""
    first, second = cluster
    await staff(cluster, ("alice", Role.AGENT), ("bob", Role.AGENT))
    async with (
        lane_at(first, "P1-OUT") as lane,
        desk(second, "alice") as alice,
        desk(second, "bob") as bob,
    ):
        lane.driver.emit(CallPressed())
        ring = await alice.next("ring")
        await first.calls.close()
        stopped = await alice.next("ring_stopped", timeout=15)
        assert (stopped["call_id"], stopped["reason"]) == (ring["call_id"], "missed")
        moved = await bob.next("ring", timeout=15)
        assert moved["call_id"] == ring["call_id"]
        await bob.next("call", lambda m: m["call"]["offered_to"] == "bob")  # saved
    missed = await call_entries(second, AuditAction.CALL_MISSED)
    assert [(e.actor, e.detail["agent"]) for e in missed] == [("centre", "alice")]


async def test_an_agent_closing_a_tab_on_one_server_stays_online_with_one_on_the_other(
    cluster: list[Centre],
) -> None:
    """alice has a tab on each server; closing the first's is no disconnect (sue, a
    supervisor, sees no change of alice's until she chooses a break); closing the last
    is."""
    first, second = cluster
    await staff(cluster, ("alice", Role.AGENT), ("sue", Role.SUPERVISOR))
    async with desk(second, "sue") as sue, first.client("alice") as client:
        async with tab(second.url, client, "alice"), tab_counts(first) as removed:
            async with tab(first.url, client, "alice"):
                pass  # greeted: logged in through the first server as well
            await removed()  # the first server took the closed tab in
            # Through the first server: its step waits behind that of the closed tab.
            chose = await client.post("/api/agents/me/state", json={"state": "break"})
            assert chose.status_code == 200, chose.text
            assert chose.json()["state"] == "break"
            states: list[str] = []
            while not states or states[-1] != "break":
                seen = await sue.next("agent", lambda m: m["agent"]["name"] == "alice")
                states.append(seen["agent"]["state"])
            assert "offline" not in states
        gone = await sue.next("agent", lambda m: m["agent"]["name"] == "alice")
        assert gone["agent"]["state"] == "offline"


async def test_a_call_one_server_has_not_heard_of_is_found_when_its_agent_accepts_it(
    cluster: list[Centre], redis_server: RedisServer
) -> None:
    """Redis is down while the first server places a call, so the second never hears
    of it; alice accepts it through the second all the same: a step refused on the
    state a server knows is tried on the latest saved. Once Redis is back the first
    server, which missed the answer, reads the state again."""
    first, second = cluster
    await staff(cluster, ("alice", Role.AGENT), ("sue", Role.SUPERVISOR))
    async with (
        lane_at(first, "P1-OUT") as lane,
        desk(first, "sue") as sue,
        second.client("alice") as alice,
        tab(second.url, alice, "alice"),
    ):
        await sue.next("agent", lambda m: m["agent"]["name"] == "alice")
        redis_server.stop()
        lane.driver.emit(CallPressed())
        rung = await sue.next("call", lambda m: m["call"]["state"] == "ringing")  # saved
        call_id = rung["call"]["id"]
        assert (await alice.get("/api/calls")).json() == {"calls": []}  # not heard of
        answered = await alice.post(f"/api/calls/{call_id}/accept")
        assert answered.status_code == 200, answered.text
        assert (answered.json()["state"], answered.json()["agent"]) == ("active", "alice")
        redis_server.start()
        # The first server missed the answer too: with Redis back, it reads the state
        # again and shows sue's tab the calls as they stand.
        calls = await sue.next("calls", lambda m: m["calls"] != [], timeout=20)
        assert [(c["id"], c["state"], c["agent"]) for c in calls["calls"]] == [
            (call_id, "active", "alice")
        ]
    accepted = await call_entries(first, AuditAction.CALL_ACCEPTED)
    assert [(e.actor, e.detail["call"]) for e in accepted] == [("alice", call_id)]


async def test_a_server_starting_leaves_online_the_agents_with_a_tab_on_another(
    cluster: list[Centre],
) -> None:
    """A third server starts while alice's tab is open on the first: its start takes
    only the agents with no tab anywhere for gone, so she stays available."""
    first, _ = cluster
    await staff(cluster, ("alice", Role.AGENT))
    async with desk(first, "alice"):
        store = await SQLiteStore.open(first.settings.database)
        third = await start_centre(first.settings, store)
        try:
            assert third.redis is not None
            async with asyncio.timeout(10):
                await third.redis.wait_up()  # its calls started before its link
            saved = await store.load_call_state()
            assert saved is not None
            queue, _ = parse_state(saved.text, first.settings.calls)
            assert queue.agent("alice").state.value == "available"
        finally:
            await third.stop()
            await store.close()


async def test_a_step_that_finds_the_state_moved_takes_back_its_ring_and_rings_again(
    cluster: list[Centre],
) -> None:
    """Another server saved a step the first has not heard of (written here straight
    to the store, nothing published): the first's ring goes out, its save is refused,
    the ring is taken back (``unrecorded``), and the press is placed again on the
    state as saved: one call in the ledger, rung once more."""
    first, _ = cluster
    await staff(cluster, ("alice", Role.AGENT))
    async with lane_at(first, "P1-OUT") as lane, desk(first, "alice") as alice:
        store = await SQLiteStore.open(first.settings.database)
        try:
            saved = await store.load_call_state()
            assert saved is not None
            await store.save_call_state(saved.text, saved.version, [], [], [])
        finally:
            await store.close()
        lane.driver.emit(CallPressed())
        taken_back = await alice.next("ring")
        stopped = await alice.next("ring_stopped")
        assert (stopped["call_id"], stopped["reason"]) == (taken_back["call_id"], "unrecorded")
        again = await alice.next("ring")
        assert again["call_id"] != taken_back["call_id"]
        await alice.call(again["call_id"], "ringing")  # saved
    placed = await call_entries(first, AuditAction.CALL_PLACED)
    assert [e.detail["call"] for e in placed] == [again["call_id"]]


async def test_a_server_cut_from_redis_longer_than_its_presence_counts_its_agents_again(
    settings: Settings, redis_server: RedisServer
) -> None:
    """The second server reaches Redis through a proxy that is cut for longer than a
    server's presence lives. The first takes it for gone and disconnects alice, whose
    tab is on it; bob, on the first, takes a break meanwhile, which the second never
    hears of. Once the link is back the second logs alice in again (sam, a supervisor
    on the first, sees her online) and shows its supervisor sue the floor as it stands
    (bob on his break), without anyone opening a new tab."""
    proxy = CuttableProxy(redis_server.port)
    await proxy.start()
    quick = replace(settings, call_presence_s=1.0)
    through_proxy = replace(quick, redis_url=f"redis://127.0.0.1:{proxy.port}/0")
    try:
        async with servers_of_one_centre(
            [replace(quick, redis_url=redis_server.url), through_proxy]
        ) as cluster:
            first, second = cluster
            await staff(
                cluster,
                ("alice", Role.AGENT),
                ("bob", Role.AGENT),
                ("sue", Role.SUPERVISOR),
                ("sam", Role.SUPERVISOR),
            )
            async with (
                desk(second, "alice"),
                desk(second, "sue") as sue,
                desk(first, "sam") as sam,
                first.client("bob") as bob,
                tab(first.url, bob, "bob"),
            ):
                await proxy.cut(stay_down=True)
                await sam.next(
                    "agent",
                    lambda m: m["agent"]["name"] == "alice" and m["agent"]["state"] == "offline",
                    timeout=30,
                )
                chose = await bob.post("/api/agents/me/state", json={"state": "break"})
                assert chose.json()["state"] == "break"
                proxy.restore()
                back = await sam.next("agent", lambda m: m["agent"]["name"] == "alice", timeout=30)
                assert back["agent"]["state"] == "available"
                await sue.next(
                    "agent",
                    lambda m: m["agent"]["name"] == "bob" and m["agent"]["state"] == "break",
                    timeout=30,
                )
                agents = (await sam.client.get("/api/agents")).json()["agents"]
                assert {a["name"]: a["state"] for a in agents}["alice"] == "available"
    finally:
        await proxy.close()
