"""Orders and alerts on the live stream: a real centre, real lanes, real console tabs.
Each change of an order reaches the tabs as the order as it is, after the ledger and the
store hold it; an order's and a car park's news reach only the users who cover that car
park (and supervisors)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from console.accounts import set_coverage
from console.billing.lists import ListedPlate, PlateLists
from console.ledger import AuditAction, AuditEntry
from console.models import Role, User
from console.payments.provider import PaymentNotice
from gates.vocabulary import Direction
from tests.conftest import Centre, LaneFactory
from tests.desks import Desk, desk
from tests.test_gatekeeping import read
from tests.test_payments_api import PARK, PLATE, issue, pay_path, sandbox_of, settings  # noqa: F401

ELSEWHERE = "解放路停车场"
Message = dict[str, Any]


def of_order(order_id: str, check: Callable[[Message], bool] = lambda _: True) -> Any:
    return lambda m: m["order"]["order_id"] == order_id and check(m["order"])


def lifted(order: Message) -> bool:
    return any(o["outcome"] == "done" for o in order["gate_opens"])


class Ledger:
    """The ledger entries written from now on, as the centre writes them."""

    def __init__(self, centre: Centre) -> None:
        self.entries: list[AuditEntry] = []
        self.unsubscribe = centre.audit.subscribe(self.entries.append)

    def holds(self, action: AuditAction, order_id: str) -> bool:
        return any(e.action is action and e.detail.get("order") == order_id for e in self.entries)

    def asked(self, command_id: str) -> bool:
        """The gate command's request is in the ledger."""
        return any(
            e.action is AuditAction.GATE_OPEN_REQUESTED and e.command_id == command_id
            for e in self.entries
        )

    def ended(self, command_id: str) -> bool:
        """The gate command's outcome is in the ledger."""
        return any(
            e.action is AuditAction.GATE_OPEN_OUTCOME and e.command_id == command_id
            for e in self.entries
        )


async def until_mark(centre: Centre, tab: Desk) -> list[Message]:
    """Every message ``tab`` is sent before the news of a lane added now, which every tab
    gets: what it was sent of what came before is all it will ever be sent of it."""
    await centre.add_lane("MARK")
    seen: list[Message] = []
    async with asyncio.timeout(10):
        while True:
            message = json.loads(await tab.ws.recv())
            if message["type"] == "lane" and message["lane"]["id"] == "MARK":
                return seen
            seen.append(message)


def test_a_user_covers_their_car_parks_and_a_supervisor_covers_all() -> None:
    at = datetime(2026, 1, 1, tzinfo=UTC)
    assert User("a", Role.AGENT, "", at).covers(PARK)
    assert User("a", Role.AGENT, "", at, coverage=(PARK,)).covers(PARK)
    assert not User("a", Role.AGENT, "", at, coverage=(ELSEWHERE,)).covers(PARK)
    assert not User("a", Role.AGENT, "", at, coverage=()).covers(PARK)
    assert User("s", Role.SUPERVISOR, "", at, coverage=(ELSEWHERE,)).covers(PARK)
    assert User("s", Role.ADMIN, "", at, coverage=()).covers(PARK)


async def test_an_order_is_told_issued_paid_and_lifted_each_after_the_ledger_holds_it(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Every message is the order as ``GET /api/payments/{id}`` gives it, and the ledger
    already holds the step it shows when the tab is sent it."""
    lane = await lanes("P1-OUT")
    ledger = Ledger(staffed)
    async with desk(staffed, "alice") as alice:
        issued = (await issue(alice.client, {"plate": PLATE, "amount_fen": 800})).json()
        order_id = issued["order_id"]
        first = (await alice.next("order", of_order(order_id)))["order"]
        assert (first["state"], first["notifications"], first["gate_opens"]) == ("open", [], [])
        assert ledger.holds(AuditAction.PAYMENT_ORDERED, order_id)

        await alice.client.post(pay_path(issued["url"]) + "/sandbox")
        told: list[Message] = []
        while not told or not lifted(told[-1]):
            order = (await alice.next("order", of_order(order_id)))["order"]
            told.append(order)
            if order["state"] == "paid":
                assert ledger.holds(AuditAction.PAYMENT_RECORDED, order_id)
            for gate_open in order["gate_opens"]:
                assert ledger.asked(gate_open["command_id"])
                assert ledger.ended(gate_open["command_id"]) or gate_open["outcome"] is None
        got = (await alice.client.get(f"/api/payments/{order_id}")).json()
    assert told[-1] == got
    assert [n["effect"] for n in got["notifications"]] == ["paid"]
    assert [n["source"] for n in got["notifications"]] == ["notification"]
    assert [(o["actor"], o["outcome"]) for o in got["gate_opens"]] == [("system", "done")]
    assert {o["state"] for o in told} == {"paid"}
    assert lane.driver.opens == 1


async def test_an_open_for_an_order_is_told_as_asked_and_again_with_its_outcome(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The lane holds the barrier mid-lift: the tab has the open as asked, on the
    ledger and not yet ended, before the lane answers."""
    lane = await lanes("P1-OUT")
    lane.driver.hold = asyncio.Event()
    ledger = Ledger(staffed)
    async with desk(staffed, "alice") as alice:
        issued = (await issue(alice.client, {"plate": PLATE, "amount_fen": 800})).json()
        order_id = issued["order_id"]
        await alice.client.post(pay_path(issued["url"]) + "/sandbox")
        asked = (await alice.next("order", of_order(order_id, lambda o: o["gate_opens"])))["order"]
        [opening] = asked["gate_opens"]
        assert (opening["actor"], opening["outcome"]) == ("system", None)
        assert ledger.asked(opening["command_id"])
        assert not ledger.ended(opening["command_id"])
        lane.driver.hold.set()
        ended = await alice.next("order", of_order(order_id, lifted))
    [done] = ended["order"]["gate_opens"]
    assert (done["command_id"], done["requested_at"]) == (
        opening["command_id"],
        opening["requested_at"],
    )
    assert ledger.ended(done["command_id"])


async def test_an_order_replaced_at_its_lane_is_told_cancelled(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        first = (await issue(alice.client, {"plate": PLATE, "amount_fen": 800})).json()
        await alice.next("order", of_order(first["order_id"]))
        second = (await issue(alice.client, {"plate": PLATE, "amount_fen": 900})).json()
        cancelled = await alice.next("order", of_order(first["order_id"]))
        issued = await alice.next("order", of_order(second["order_id"]))
    assert cancelled["order"]["state"] == "cancelled"
    assert (issued["order"]["state"], issued["order"]["amount_fen"]) == ("open", 900)


@pytest.mark.parametrize("settings", [{"payment_expiry_s": 0.5}], indirect=True)
async def test_an_order_is_told_expired_then_paid_late_then_opened_for_by_an_agent(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Expiry, which nothing writes, is told when its time comes; the money that comes
    after is told as late, and the agent's open for it is told with its outcome."""
    lane = await lanes("P1-OUT")
    ledger = Ledger(staffed)
    async with desk(staffed, "alice") as alice:
        issued = (await issue(alice.client, {"plate": PLATE, "amount_fen": 800})).json()
        order_id = issued["order_id"]
        await alice.next("order", of_order(order_id, lambda o: o["state"] == "open"))
        expired = await alice.next("order", of_order(order_id))
        assert (expired["order"]["state"], expired["order"]["notifications"]) == ("expired", [])

        headers, body = (await sandbox_of(staffed)).notification(
            PaymentNotice(order_id, "sbx-late", 800)
        )
        await alice.client.post("/pay/notify/sandbox", content=body, headers=headers)
        late = (await alice.next("order", of_order(order_id)))["order"]
        assert late["state"] == "expired"
        assert [n["effect"] for n in late["notifications"]] == ["late"]
        assert (late["gate_opens"], lane.driver.opens) == ([], 0)

        opened = await alice.post(f"/api/payments/{order_id}/open", {"note": "迟付，人工放行"})
        assert opened.json()["outcome"] == "done", opened.text
        after = (await alice.next("order", of_order(order_id, lifted)))["order"]
    assert [(o["actor"], o["outcome"]) for o in after["gate_opens"]] == [("alice", "done")]
    assert lane.driver.opens == 1
    requested = [e for e in ledger.entries if e.action is AuditAction.GATE_OPEN_REQUESTED]
    assert [(e.actor, e.reason, e.detail.get("note")) for e in requested] == [
        ("alice", "paid_not_lifted", "迟付，人工放行")
    ]


async def covered(centre: Centre) -> None:
    """dave answers this car park's calls, carol another's only."""
    await centre.add_user("carol", Role.AGENT)
    await centre.add_user("dave", Role.AGENT)
    await set_coverage(centre.store, "carol", [ELSEWHERE])
    await set_coverage(centre.store, "dave", [PARK])
    await centre.changes.poll()


async def test_an_orders_news_reaches_only_the_users_who_cover_its_car_park(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await lanes("P1-OUT")
    await covered(staffed)
    async with (
        desk(staffed, "carol") as carol,
        desk(staffed, "dave") as dave,
        desk(staffed, "sue") as sue,
    ):
        issued = (await issue(dave.client, {"plate": PLATE, "amount_fen": 800})).json()
        await dave.next("order", of_order(issued["order_id"]))
        await sue.next("order", of_order(issued["order_id"]))
        missed = await until_mark(staffed, carol)
    assert [m for m in missed if m["type"] == "order"] == []


async def test_a_plate_alert_reaches_only_the_users_who_cover_its_car_park(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await staffed.store.set_plate_lists(
        PARK,
        PlateLists(blacklist=(ListedPlate("粤B44444", None, "被盗车辆"),)),
        datetime.now(UTC),
    )
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    lane = await lanes("P1-IN")
    await covered(staffed)
    async with (
        desk(staffed, "carol") as carol,
        desk(staffed, "dave") as dave,
        desk(staffed, "sue") as sue,
    ):
        lane.driver.emit(read("粤B44444"))
        alerted = await dave.next("plate_alert")
        await sue.next("plate_alert")
        missed = await until_mark(staffed, carol)
    assert (alerted["alert"]["plate"], alerted["alert"]["car_park"]) == ("粤B44444", PARK)
    assert [m for m in missed if m["type"] == "plate_alert"] == []


async def test_a_tab_open_through_a_coverage_change_gets_its_new_car_parks_news(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The account changed under an open tab (``seat user coverage``): no reconnect."""
    await lanes("P1-OUT")
    await covered(staffed)
    async with desk(staffed, "carol") as carol:
        await set_coverage(staffed.store, "carol", [ELSEWHERE, PARK])
        await staffed.changes.poll()
        issued = (await issue(carol.client, {"plate": PLATE, "amount_fen": 800})).json()
        told = await carol.next("order", of_order(issued["order_id"]))
    assert told["order"]["car_park"] == PARK
