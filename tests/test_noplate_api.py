"""Cars without a plate end to end over HTTP: a real centre, real lanes over the lane
link, the sandbox provider. A phone opens a stay at the entry and the gate lifts; at the
exit it leaves free or pays; an agent links the stay to a plate; and old, used,
tampered and misdirected codes, a second stay, strangers and bad input change nothing."""

from __future__ import annotations

import base64
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest

from console.billing.rules import Rules
from console.ledger import AuditAction
from console.noplate.codes import LaneCode, code_key, make_code
from console.stays.records import StayState
from gates.vocabulary import Direction
from tests.conftest import Centre, LaneFactory
from tests.lanes import seen
from tests.noplate import Heard, action, code_path, page_of
from tests.qr import qr_url
from tests.test_payments_api import HOURLY, PARK, Paid, ledger, settings  # noqa: F401

# The first hour free, as many car parks give it.
FREE_HOUR = Rules.parse({"free_minutes": 60, "bands": HOURLY.to_json()["bands"]})

JSON = {"content-type": "application/json"}


async def entry_and_exit(centre: Centre, lanes: LaneFactory) -> tuple[Any, Any]:
    await centre.add_lane("P1-IN", Direction.ENTRY)
    return await lanes("P1-IN"), await lanes("P1-OUT")


async def enter(centre: Centre, phone: httpx.AsyncClient) -> str:
    """The phone opens a stay at P1-IN: its identity."""
    async with centre.client("alice") as agent:
        path = await code_path(agent, "P1-IN")
    response = await phone.post(path + "/enter")
    assert response.status_code == 201, response.text
    assert page_of(response) == "entered"
    [stay] = await centre.store.noplate_stays(PARK, 10)
    return stay.identity


async def test_an_unread_car_at_the_entry_gets_the_lanes_code_on_the_display(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The camera read no plate: the display shows the lane's no-plate code by itself."""
    entry, _ = await entry_and_exit(staffed, lanes)
    shown = Heard(staffed, action(AuditAction.DISPLAY_OUTCOME))
    entry.driver.emit(seen(""))
    assert (await shown.wait()).outcome == "done"
    assert entry.driver.shown == ("无牌车请扫码入场",)
    assert entry.driver.qr is not None and entry.driver.qr.startswith(
        "https://seat.example.com/noplate/"
    )


async def test_a_phone_opens_a_stay_and_the_entry_gate_opens_audited(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The agent's QR decodes to the code; the phone's tap opens a stay under a
    temporary identity, the gate lifts by ``system`` for ``no_plate_entry``, and the
    ledger has the entry before the open."""
    entry, _ = await entry_and_exit(staffed, lanes)
    async with staffed.client("alice") as agent, staffed.client() as phone:
        shown = await agent.post("/api/lanes/P1-IN/noplate", json={})
        assert shown.status_code == 201, shown.text
        body = shown.json()
        assert qr_url(base64.b64decode(body["qr_png"])) == body["url"] == entry.driver.qr
        path = body["url"].removeprefix("https://seat.example.com")
        page = await phone.get(path)
        assert (page.status_code, page_of(page)) == (200, "enter")
        assert entry.driver.opens == 0
        entered = await phone.post(path + "/enter")
        assert (entered.status_code, page_of(entered)) == (201, "entered")
        cookie = entered.headers["set-cookie"].lower()
        assert "httponly" in cookie and "path=/noplate" in cookie and "samesite=lax" in cookie
        assert entry.driver.opens == 1
        listed = (await agent.get("/api/noplate/stays", params={"car_park": PARK})).json()
    [stay] = listed["stays"]
    assert stay["no_plate"] and stay["identity"].startswith("无牌") and not stay["linked"]
    assert (stay["plate"], stay["state"], stay["entry_lane"]) == (stay["identity"], "open", "P1-IN")
    assert stay["identity"] in entered.text
    steps = [(e.action, e.actor, e.reason) for e in await ledger(staffed)]
    entered_at = steps.index((AuditAction.NOPLATE_ENTERED, steps[-3][1], None))
    assert steps[entered_at][1].startswith("phone:")
    assert steps[entered_at + 1 :] == [
        (AuditAction.GATE_OPEN_REQUESTED, "system", "no_plate_entry"),
        (AuditAction.GATE_OPEN_OUTCOME, "system", "no_plate_entry"),
    ]
    vehicles = await staffed.store.lane_vehicles("P1-IN", 5)
    assert [(v.event.plate, v.stay_id) for v in vehicles] == [(stay["identity"], stay["stay_id"])]


async def test_a_used_an_old_and_a_tampered_code_open_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    entry, _ = await entry_and_exit(staffed, lanes)
    async with staffed.client("alice") as agent, staffed.client() as first:
        path = await code_path(agent, "P1-IN")
        assert (await first.post(path + "/enter")).status_code == 201
    async with staffed.client() as second:
        for verb, suffix in (("GET", ""), ("POST", "/enter")):
            used = await second.request(verb, path + suffix)
            assert (used.status_code, page_of(used)) == (410, "expired")
        key = code_key(await staffed.store.get_sticker_key() or b"")
        old = make_code(key, LaneCode("P1-IN", datetime.now(UTC) - timedelta(minutes=4), "ab" * 8))
        for verb in ("get", "post"):
            suffix = "/enter" if verb == "post" else ""
            stale = await second.request(verb.upper(), f"/noplate/{old}{suffix}")
            assert (stale.status_code, page_of(stale)) == (410, "expired")
        fresh = make_code(key, LaneCode("P1-IN", datetime.now(UTC), "cd" * 8))
        tampered = fresh[:3] + ("A" if fresh[3] != "A" else "B") + fresh[4:]
        for bad in (
            tampered,
            "x" * 300,
            "nonsense",
            make_code(b"other", LaneCode("P1-IN", datetime.now(UTC), "ef" * 8)),
        ):
            refused = await second.post(f"/noplate/{bad}/enter")
            assert (refused.status_code, page_of(refused)) == (404, "invalid")
        gone = make_code(key, LaneCode("P9-IN", datetime.now(UTC), "cd" * 8))
        assert (await second.get(f"/noplate/{gone}")).status_code == 404
    assert entry.driver.opens == 1
    assert len(await staffed.store.noplate_stays(PARK, 10)) == 1


async def test_one_phone_holds_one_open_stay(staffed: Centre, lanes: LaneFactory) -> None:
    """A second entry by the same phone is refused and opens nothing."""
    entry, _ = await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
        async with staffed.client("alice") as agent:
            path = await code_path(agent, "P1-IN")
        again = await phone.get(path)
        assert (again.status_code, page_of(again)) == (200, "held")
        refused = await phone.post(path + "/enter")
        assert (refused.status_code, page_of(refused)) == (409, "held")
    assert entry.driver.opens == 1
    assert len(await staffed.store.noplate_stays(PARK, 10)) == 1
    assert [e.action for e in await ledger(staffed)].count(AuditAction.NOPLATE_ENTERED) == 1


async def test_an_entry_code_does_not_leave_nor_an_exit_code_enter(
    staffed: Centre, lanes: LaneFactory
) -> None:
    entry, exit_lane = await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
        async with staffed.client("alice") as agent:
            in_path, out_path = await code_path(agent, "P1-IN"), await code_path(agent, "P1-OUT")
        wrong = await phone.post(in_path + "/leave")
        assert (wrong.status_code, page_of(wrong)) == (409, "invalid")
        wrong = await phone.post(out_path + "/enter")
        assert (wrong.status_code, page_of(wrong)) == (409, "invalid")
    assert (entry.driver.opens, exit_lane.driver.opens) == (1, 0)
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert stay.state is StayState.OPEN


async def test_a_free_exit_closes_the_stay_and_opens_the_gate(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A stay within the free minutes costs nothing: the phone leaves with one tap, and
    the gate lifts for ``free_minutes``, as for a car with a plate."""
    await staffed.store.set_billing_rules(PARK, FREE_HOUR, datetime.now(UTC))
    _, exit_lane = await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        identity = await enter(staffed, phone)
        async with staffed.client("alice") as agent:
            path = await code_path(agent, "P1-OUT")
        page = await phone.get(path)
        assert (page.status_code, page_of(page)) == (200, "leave")
        assert identity in page.text and "免费" in page.text
        left = await phone.post(path + "/leave")
        assert (left.status_code, page_of(left)) == (200, "left")
        again = await phone.post(path + "/leave")
        assert (again.status_code, page_of(again)) == (404, "no_stay")
    assert exit_lane.driver.opens == 1
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert stay.state is StayState.EXITED
    steps = [(e.action, e.reason) for e in await ledger(staffed)]
    at = steps.index((AuditAction.NOPLATE_EXITED, None))
    assert steps[at + 1] == (AuditAction.GATE_OPEN_REQUESTED, "free_minutes")


async def test_an_exit_where_no_rules_charge_asks_the_driver_to_call(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A car park with no billing rules lets no car out by itself, with a plate or
    without: the phone is told to call the seat, and the stay stays open."""
    _, exit_lane = await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
        async with staffed.client("alice") as agent:
            path = await code_path(agent, "P1-OUT")
        page = await phone.get(path)
        assert (page.status_code, page_of(page)) == (503, "call")
        refused = await phone.post(path + "/leave")
        assert (refused.status_code, page_of(refused)) == (503, "call")
    assert exit_lane.driver.opens == 0
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert stay.state is StayState.OPEN
    actions = [e.action for e in await ledger(staffed)]
    assert AuditAction.NOPLATE_EXITED not in actions


async def test_another_phone_or_none_finds_no_stay_at_the_exit(
    staffed: Centre, lanes: LaneFactory
) -> None:
    _, exit_lane = await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
    async with staffed.client("alice") as agent:
        path = await code_path(agent, "P1-OUT")
    async with staffed.client() as stranger:
        page = await stranger.get(path)
        assert (page.status_code, page_of(page)) == (200, "no_stay")
        refused = await stranger.post(path + "/leave")
        assert (refused.status_code, page_of(refused)) == (404, "no_stay")
        stranger.cookies.set("seat_noplate_phone", "forged.cookie", path="/noplate")
        refused = await stranger.post(path + "/leave")
        assert (refused.status_code, page_of(refused)) == (404, "no_stay")
    assert exit_lane.driver.opens == 0
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert stay.state is StayState.OPEN


async def test_a_priced_exit_pays_then_the_gate_opens_and_the_stay_closes(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    _, exit_lane = await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
        async with staffed.client("alice") as agent:
            path = await code_path(agent, "P1-OUT")
        page = await phone.get(path)
        assert "5.00元" in page.text and "缴费离场" in page.text
        ordered = await phone.post(path + "/leave")
        assert ordered.status_code == 303
        pay = ordered.headers["location"]
        assert pay.startswith("/pay/")
        assert exit_lane.driver.opens == 0
        paid, closed = Paid(staffed), Heard(staffed, action(AuditAction.NOPLATE_EXITED))
        tapped = await phone.post(pay + "/sandbox")
        assert page_of(tapped) == "paid"
        await paid.wait()
        exited = await closed.wait()
    assert exit_lane.driver.opens == 1
    assert exited.actor == "system" and exited.detail["order"]
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert stay.state is StayState.EXITED
    opens = [e.reason for e in await ledger(staffed) if e.action is AuditAction.GATE_OPEN_REQUESTED]
    assert opens == ["no_plate_entry", "paid"]


async def test_an_agent_links_a_no_plate_stay_to_a_plate_audited(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        identity = await enter(staffed, phone)
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    async with staffed.client("alice") as agent:
        shown = (await agent.get(f"/api/stays/{stay.stay_id}")).json()
        assert (shown["plate"], shown["no_plate"]) == (identity, True)
        [listed] = (await agent.get("/api/lanes/P1-IN/vehicles")).json()["vehicles"]
        assert (listed["plate"], listed["no_plate"], listed["snapshot_url"]) == (
            identity,
            True,
            None,
        )
        url = f"/api/noplate/stays/{stay.stay_id}/plate"
        for bad in ("粤B1234", "XB12345", "", "粤B12345" * 10, 12345, None):
            refused = await agent.post(url, json={"plate": bad})
            assert refused.status_code == 400, (bad, refused.text)
        assert (
            await agent.post("/api/noplate/stays/999/plate", json={"plate": "粤B12345"})
        ).status_code == 404
        linked = await agent.post(url, json={"plate": "粤b 12345", "note": "行驶证"})
        assert linked.status_code == 200, linked.text
        body = linked.json()
    assert body["stay"]["plate"] == "粤B12345" and body["stay"]["identity"] == identity
    assert body["stay"]["linked"] and body["entry"]["no_plate"]
    corrected = [e for e in await ledger(staffed) if e.action is AuditAction.PLATE_CORRECTED]
    assert [(e.actor, e.detail["old_plate"], e.detail["new_plate"]) for e in corrected] == [
        ("alice", identity, "粤B12345")
    ]
    record = await staffed.store.stay(stay.stay_id)
    assert record is not None and (record.plate, record.state) == ("粤B12345", StayState.OPEN)
    async with staffed.client("alice") as agent:
        shown = (await agent.get(f"/api/stays/{stay.stay_id}")).json()
    assert (shown["plate"], shown["no_plate"]) == ("粤B12345", False)


async def test_the_agents_api_needs_a_session_csrf_and_good_input(
    staffed: Centre, lanes: LaneFactory
) -> None:
    await entry_and_exit(staffed, lanes)
    async with staffed.client() as stranger:
        assert (await stranger.post("/api/lanes/P1-IN/noplate", json={})).status_code == 401
        assert (
            await stranger.get("/api/noplate/stays", params={"car_park": PARK})
        ).status_code == 401
        assert (
            await stranger.post("/api/noplate/stays/1/plate", json={"plate": "粤B12345"})
        ).status_code == 401
    async with staffed.client("alice") as agent:
        no_csrf = agent.headers.pop("X-CSRF-Token")
        assert (await agent.post("/api/lanes/P1-IN/noplate", json={})).status_code == 403
        agent.headers["X-CSRF-Token"] = no_csrf
        assert (await agent.post("/api/lanes/P9/noplate", json={})).status_code == 404
        big = await agent.post(
            "/api/lanes/P1-IN/noplate", content=b"{" + b" " * 70000 + b"}", headers=JSON
        )
        assert big.status_code == 413
        assert (
            await agent.post("/api/lanes/P1-IN/noplate", content=b"[1]", headers=JSON)
        ).status_code == 400
        for query in (
            {"car_park": "nowhere"},
            {},
            {"car_park": PARK, "limit": "0"},
            {"car_park": PARK, "limit": "x"},
            {"car_park": PARK, "limit": "501"},
            {"car_park": PARK, "other": "1"},
        ):
            response = await agent.get("/api/noplate/stays", params=query)
            assert response.status_code in (400, 404), (query, response.text)
    steps = [e.action for e in await ledger(staffed)]
    assert AuditAction.DISPLAY_REQUESTED not in steps


async def test_scans_from_one_address_are_rate_limited(staffed: Centre, lanes: LaneFactory) -> None:
    """Phones one after another from one address: past the burst, a busy page."""
    entry, _ = await entry_and_exit(staffed, lanes)
    statuses = []
    async with staffed.client("alice") as agent:
        for _ in range(5):
            path = await code_path(agent, "P1-IN")
            async with staffed.client() as phone:
                statuses.append((await phone.post(path + "/enter")).status_code)
    assert statuses == [201, 201, 201, 201, 429]
    # Four stays, four opens asked for (those within a moment of a lift join it).
    steps = [e.action for e in await ledger(staffed)]
    assert steps.count(AuditAction.NOPLATE_ENTERED) == 4
    assert steps.count(AuditAction.GATE_OPEN_REQUESTED) == 4
    assert entry.driver.opens >= 1


async def test_a_form_posted_from_another_site_opens_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A page elsewhere cannot make a visitor's phone open a stay (Sec-Fetch-Site)."""
    entry, _ = await entry_and_exit(staffed, lanes)
    async with staffed.client("alice") as agent, staffed.client() as phone:
        path = await code_path(agent, "P1-IN")
        refused = await phone.post(path + "/enter", headers={"sec-fetch-site": "cross-site"})
        assert (refused.status_code, page_of(refused)) == (403, "invalid")
        assert "set-cookie" not in refused.headers
    assert entry.driver.opens == 0
    assert await staffed.store.noplate_stays(PARK, 10) == []


@pytest.mark.parametrize("settings", [{"payment_sandbox": False}], indirect=True)
async def test_a_priced_exit_without_a_payment_provider_asks_the_driver_to_call(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """No provider to pay with: the page says to call the seat; the stay stays open and
    the gate shut."""
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    _, exit_lane = await entry_and_exit(staffed, lanes)
    async with staffed.client() as phone:
        await enter(staffed, phone)
        async with staffed.client("alice") as agent:
            path = await code_path(agent, "P1-OUT")
        refused = await phone.post(path + "/leave")
        assert (refused.status_code, page_of(refused)) == (503, "call")
    assert exit_lane.driver.opens == 0
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert stay.state is StayState.OPEN
