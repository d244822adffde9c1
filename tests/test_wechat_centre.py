"""WeChat Pay end to end: a real centre whose provider is WeChat Pay, pointed at the
emulator, a real lane over the lane link. The lane's display shows WeChat Pay's
code_url, the emulator pays and posts its signed notification to the centre, and the
gate lifts; forged, replayed and late notifications, a notification that never came,
and WeChat Pay failing are each answered as WeChat Pay and the agent need."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import socket
from collections.abc import AsyncIterator
from dataclasses import replace
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest
from playwright.async_api import expect

from console.ledger import AuditAction
from console.models import Role
from console.settings import Settings
from console.sqlite_store import SQLiteStore
from console.stays.records import StayState
from gates.vocabulary import Direction
from tests.conftest import TEST_POLICY, Centre, LaneFactory, start_centre, start_lane
from tests.desks import desk
from tests.noplate import Heard, action, code_path, page_of
from tests.qr import qr_url
from tests.test_calls_browser import OpenConsole, consoles  # noqa: F401
from tests.test_payments_api import HOURLY, PARK, PLATE, Paid, issue, ledger
from tests.wechatpay_emulator import Fault, Keys, NotifyFault, WeChatPayEmulator

KEYS = Keys()
ORDER = {"plate": PLATE, "amount_fen": 800}


def free_port() -> int:
    """A port for the centre, known before it starts: WeChat Pay is told the centre's
    address (``SEAT_PUBLIC_URL``) in every order, as a real merchant's would be."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@pytest.fixture
async def emulator() -> AsyncIterator[WeChatPayEmulator]:
    running = WeChatPayEmulator(KEYS)
    await running.start()
    yield running
    await running.stop()


@pytest.fixture
def settings(
    request: pytest.FixtureRequest, tmp_path: Path, emulator: WeChatPayEmulator
) -> Settings:
    """A centre that pays through WeChat Pay (the emulator), and asks after an unpaid
    order only after a minute unless the test says otherwise."""
    changed: dict[str, Any] = getattr(request, "param", {})
    port = free_port()
    base = Settings(
        data_dir=tmp_path,
        port=port,
        command_timeout_s=3.0,
        heartbeat=TEST_POLICY,
        public_url=f"http://127.0.0.1:{port}",
        wechat=KEYS.settings(emulator.url, timeout_s=1.0),
        payment_query_after_s=60.0,
    )
    return replace(base, **changed)


@pytest.fixture
async def centre(settings: Settings, store: SQLiteStore) -> AsyncIterator[Centre]:
    running = await start_centre(settings, store, port=settings.port)
    yield running.centre(store, settings)
    await running.stop()


def digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


async def order_of(client: httpx.AsyncClient, order_id: str) -> dict[str, Any]:
    response = await client.get(f"/api/payments/{order_id}")
    assert response.status_code == 200, response.text
    found: dict[str, Any] = response.json()
    return found


async def test_an_order_paid_in_wechat_opens_the_gate_and_the_ledger_holds_each_step(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """The display's QR code is WeChat Pay's code_url; its notification lifts the gate."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        response = await issue(client, ORDER)
        assert response.status_code == 201, response.text
        issued = response.json()
        placed = emulator.orders[issued["order_id"]]
        assert issued["url"] == placed.code_url
        assert issued["url"].startswith("weixin://wxpay/bizpayurl?pr=")
        assert qr_url(base64.b64decode(issued["qr_png"])) == placed.code_url
        assert (lane.driver.shown, lane.driver.qr) == (
            ("请扫码缴费", PLATE, "8.00元"),
            placed.code_url,
        )
        assert placed.request["notify_url"] == f"{staffed.url}/pay/notify/wechat"
        assert placed.request["amount"] == {"total": 800, "currency": "CNY"}

        emulator.pay(issued["order_id"])
        paid = Paid(staffed)
        sent = await emulator.notify(issued["order_id"])
        assert sent.status == 200, sent.answer
        await paid.wait()
        order = await order_of(client, issued["order_id"])
    assert (lane.driver.opens, lane.driver.shown) == (1, ("已缴费", PLATE, "请通行"))
    assert (order["state"], order["provider"], order["provider_ref"]) == (
        "paid",
        "wechat",
        issued["order_id"],
    )
    assert [
        (n["transaction_id"], n["effect"], n["source"], n["notification_id"])
        for n in order["notifications"]
    ] == [(placed.transaction_id, "paid", "notification", sent.notification_id)]
    entries = await ledger(staffed)
    assert [e.action for e in entries] == [
        AuditAction.PAYMENT_ORDERED,
        AuditAction.DISPLAY_REQUESTED,
        AuditAction.DISPLAY_OUTCOME,
        AuditAction.PAYMENT_NOTIFIED,
        AuditAction.PAYMENT_RECORDED,
        AuditAction.GATE_OPEN_REQUESTED,
        AuditAction.GATE_OPEN_OUTCOME,
        AuditAction.DISPLAY_REQUESTED,
        AuditAction.DISPLAY_OUTCOME,
    ]
    assert entries[0].detail["provider"] == "wechat"
    assert entries[1].detail["qr"] == placed.code_url
    notified = entries[3]
    assert (notified.actor, notified.detail["remote"], notified.detail["sha256"]) == (
        "provider:wechat",
        "127.0.0.1",
        digest(sent.body),
    )
    assert notified.detail["notification_id"] == sent.notification_id
    assert (entries[5].actor, entries[5].reason) == ("system", "paid")


async def test_a_notification_sent_again_is_recorded_once_and_lifts_once(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """WeChat Pay's retry of one notification is answered 200 and changes nothing."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, ORDER)).json()
        emulator.pay(issued["order_id"])
        paid = Paid(staffed)
        first = await emulator.notify(issued["order_id"])
        await paid.wait()
        again = await emulator.resend(first)
        assert (again.status, httpx.Response(200, content=again.answer).json()["effect"]) == (
            200,
            "replayed",
        )
        order = await order_of(client, issued["order_id"])
    assert (len(order["notifications"]), len(order["gate_opens"]), lane.driver.opens) == (1, 1, 1)
    recorded = [
        e.outcome for e in await ledger(staffed) if e.action is AuditAction.PAYMENT_RECORDED
    ]
    assert recorded == ["paid", "replayed"]


@pytest.mark.parametrize(
    ("fault", "code"),
    [
        (NotifyFault.FORGED, "bad_signature"),
        (NotifyFault.WRONG_SERIAL, "unknown_serial"),
        (NotifyFault.REPLAYED, "stale_timestamp"),
        (NotifyFault.TAMPERED_CIPHERTEXT, "undecryptable_resource"),
        (NotifyFault.OTHER_MERCHANT, "other_merchant"),
        (NotifyFault.OTHER_AMOUNT, "amount_mismatch"),
    ],
)
async def test_a_notification_that_does_not_stand_is_refused_audited_and_pays_nothing(
    staffed: Centre,
    lanes: LaneFactory,
    emulator: WeChatPayEmulator,
    fault: NotifyFault,
    code: str,
) -> None:
    """Refused with WeChat Pay's FAIL (it will send again), ledgered with where it came
    from and what it held; the genuine one still pays afterwards."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, ORDER)).json()
        emulator.pay(issued["order_id"])
        refused = await emulator.notify(issued["order_id"], fault)
        answer = httpx.Response(refused.status, content=refused.answer).json()
        assert (refused.status, answer["code"], answer["error"]) == (400, "FAIL", code)
        assert 1 <= len(answer["message"]) <= 64  # WeChat Pay's bounds
        order = await order_of(client, issued["order_id"])
        assert (order["state"], order["notifications"], lane.driver.opens) == ("open", [], 0)
        entry = (await ledger(staffed))[-1]
        assert (entry.action, entry.actor, entry.outcome) == (
            AuditAction.PAYMENT_REFUSED,
            "provider:wechat",
            code,
        )
        assert (entry.detail["remote"], entry.detail["sha256"]) == (
            "127.0.0.1",
            digest(refused.body),
        )

        paid = Paid(staffed)
        genuine = await emulator.notify(issued["order_id"])
        assert genuine.status == 200
        await paid.wait()
    assert lane.driver.opens == 1


async def test_a_notification_of_a_transaction_not_in_success_pays_nothing(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """Genuine, but of a payment refunded since: it lifts no gate."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, ORDER)).json()
        emulator.pay(issued["order_id"]).state = "REFUND"
        sent = await emulator.notify(issued["order_id"])
        order = await order_of(client, issued["order_id"])
    answer = httpx.Response(sent.status, content=sent.answer).json()
    assert (sent.status, answer["error"]) == (400, "not_paid")
    assert (order["state"], order["notifications"], lane.driver.opens) == ("open", [], 0)
    assert (await ledger(staffed))[-1].outcome == "not_paid"


async def test_a_notification_of_an_order_the_centre_never_made_is_refused_and_audited(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    lane = await lanes("P1-OUT")
    unknown = "f" * 32
    emulator.place(unknown, 800, f"{staffed.url}/pay/notify/wechat")
    emulator.pay(unknown)
    sent = await emulator.notify(unknown)
    answer = httpx.Response(sent.status, content=sent.answer).json()
    assert (sent.status, answer["code"], answer["error"]) == (404, "FAIL", "unknown_order")
    entry = (await ledger(staffed))[-1]
    assert (entry.action, entry.outcome, entry.detail["order"]) == (
        AuditAction.PAYMENT_REFUSED,
        "unknown_order",
        unknown,
    )
    assert entry.detail["sha256"] == digest(sent.body)
    assert lane.driver.opens == 0


async def test_a_payment_of_a_replaced_order_is_kept_shown_to_agents_and_lifts_nothing(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """The driver paid the old code as the agent issued a new one: the money is WeChat
    Pay's to refund or the agent's to honour, not the gate's to lift by itself. Every
    console hears of it; the agent opens for it, tied to that order."""
    lane = await lanes("P1-OUT")
    async with desk(staffed, "alice") as alice:
        old = (await issue(alice.client, ORDER)).json()
        emulator.pay(old["order_id"])  # and its notification is slow to come
        await issue(alice.client, {**ORDER, "amount_fen": 900})
        async with asyncio.timeout(10):
            assert await emulator.closes.get() == old["order_id"]  # too late: ORDERPAID
        sent = await emulator.notify(old["order_id"])
        assert (sent.status, httpx.Response(200, content=sent.answer).json()["effect"]) == (
            200,
            "late",
        )
        told = await alice.next(
            "order",
            lambda m: m["order"]["order_id"] == old["order_id"] and m["order"]["notifications"],
        )
        assert told["order"]["state"] == "cancelled"
        assert [n["effect"] for n in told["order"]["notifications"]] == ["late"]
        assert lane.driver.opens == 0

        opened = await alice.post(f"/api/payments/{old['order_id']}/open", {"note": "已付旧码"})
        assert opened.json()["outcome"] == "done", opened.text
        order = await order_of(alice.client, old["order_id"])
    assert order["state"] == "cancelled"
    assert [(o["actor"], o["outcome"]) for o in order["gate_opens"]] == [("alice", "done")]
    assert lane.driver.opens == 1
    entries = await ledger(staffed)
    assert [e.outcome for e in entries if e.action is AuditAction.PAYMENT_RECORDED] == ["late"]
    requested = [e for e in entries if e.action is AuditAction.GATE_OPEN_REQUESTED]
    assert [(e.actor, e.reason, e.detail["order"]) for e in requested] == [
        ("alice", "paid_not_lifted", old["order_id"])
    ]


async def test_an_order_replaced_at_the_lane_is_closed_with_wechat_pay(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """As WeChat Pay asks of an order given up for a new one: its code pays no more."""
    await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        old = (await issue(client, ORDER)).json()
        new = (await issue(client, {**ORDER, "amount_fen": 900})).json()
    async with asyncio.timeout(10):
        assert await emulator.closes.get() == old["order_id"]
    assert emulator.orders[old["order_id"]].state == "CLOSED"
    assert emulator.orders[new["order_id"]].state == "NOTPAY"
    with pytest.raises(ValueError, match="closed"):
        emulator.pay(old["order_id"])


@pytest.mark.parametrize("settings", [{"payment_query_after_s": 0.2}], indirect=True)
async def test_a_payment_whose_notification_never_comes_is_found_by_asking(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """The centre asks WeChat Pay after the order, a failed ask is asked again later,
    and the payment found settles as a notification would; the notification that comes
    at last is a replay that lends it its id."""
    lane = await lanes("P1-OUT")
    emulator.fail_next("query", Fault.SERVER_ERROR)
    async with staffed.client("alice") as client:
        paid = Paid(staffed)
        issued = (await issue(client, ORDER)).json()
        emulator.pay(issued["order_id"])
        await paid.wait()
        found = await order_of(client, issued["order_id"])
        late = await emulator.notify(issued["order_id"])
        assert late.status == 200
        order = await order_of(client, issued["order_id"])
    assert lane.driver.opens == 1
    assert emulator.queries[:2] == [issued["order_id"]] * 2
    assert [(n["source"], n["notification_id"]) for n in found["notifications"]] == [
        ("query", None)
    ]
    assert [(n["source"], n["notification_id"]) for n in order["notifications"]] == [
        ("query", late.notification_id)
    ]
    entries = await ledger(staffed)
    notified = [e for e in entries if e.action is AuditAction.PAYMENT_NOTIFIED]
    assert [(e.detail["source"], e.detail["remote"]) for e in notified] == [
        ("query", "query"),
        ("notification", "127.0.0.1"),
    ]
    recorded = [e.outcome for e in entries if e.action is AuditAction.PAYMENT_RECORDED]
    assert recorded == ["paid", "replayed"]


async def test_an_agents_open_asks_after_an_order_not_heard_paid_and_lifts_once(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """The driver shows a paid WeChat order the centre heard nothing of: the agent's
    open asks WeChat Pay, keeps the payment, and is the one lift (not the system's too)."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = (await issue(client, ORDER)).json()
        unpaid = await client.post(f"/api/payments/{issued['order_id']}/open", json={})
        assert (unpaid.status_code, unpaid.json()["error"]) == (409, "order_not_paid")
        emulator.pay(issued["order_id"])
        opened = await client.post(f"/api/payments/{issued['order_id']}/open", json={})
        assert opened.json()["outcome"] == "done", opened.text
        order = await order_of(client, issued["order_id"])
        emulator.fail_next("query", Fault.TIMEOUT)
        other = (await issue(client, ORDER)).json()
        down = await client.post(f"/api/payments/{other['order_id']}/open", json={})
        assert (down.status_code, down.json()["error"]) == (503, "wechat_timeout")
    assert (order["state"], [n["source"] for n in order["notifications"]]) == ("paid", ["query"])
    assert [(o["actor"], o["outcome"]) for o in order["gate_opens"]] == [("alice", "done")]
    assert lane.driver.opens == 1
    requested = [e for e in await ledger(staffed) if e.action is AuditAction.GATE_OPEN_REQUESTED]
    assert [(e.actor, e.reason) for e in requested] == [("alice", "paid_not_lifted")]


async def test_a_centre_that_was_down_when_the_payment_came_asks_after_it_on_starting(
    settings: Settings, store: SQLiteStore, emulator: WeChatPayEmulator
) -> None:
    """The order is issued, the centre stops, the driver pays (WeChat Pay's
    notifications find nobody); started again, the centre asks and lifts the gate."""
    first = await start_centre(settings, store, port=settings.port)
    centre = first.centre(store, settings)
    await centre.add_user("alice", Role.AGENT)
    lane = await start_lane(centre, "P1-OUT")
    async with centre.client("alice") as client:
        issued = (await issue(client, ORDER)).json()
    await lane.stop()
    await first.stop()
    emulator.pay(issued["order_id"])

    # The ask is held until the lane is back, so the lift is the lane's to see.
    emulator.fail_next("query", Fault.HELD)
    patient = KEYS.settings(emulator.url, timeout_s=30.0)
    quick = replace(settings, payment_query_after_s=0.2, wechat=patient)
    again = await start_centre(quick, store, port=settings.port)
    try:
        restarted = again.centre(store, quick)
        restarted.tokens = centre.tokens
        paid = Paid(restarted)
        lane = await start_lane(restarted, "P1-OUT")
        emulator.release()
        await paid.wait()
        await lane.stop()
    finally:
        await again.stop()
    assert emulator.queries == [issued["order_id"]]
    assert lane.driver.opens == 1
    kept = await store.payment_notifications(issued["order_id"])
    assert [(n.source.value, n.effect.value) for n in kept] == [("query", "paid")]


async def test_a_car_without_a_plate_leaves_by_scanning_the_exits_wechat_code(
    staffed: Centre, lanes: LaneFactory, emulator: WeChatPayEmulator
) -> None:
    """The phone is told to scan the display, which shows WeChat Pay's code; paid, the
    gate lifts and the stay closes."""
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    await lanes("P1-IN")
    exit_lane = await lanes("P1-OUT")
    async with staffed.client() as phone:
        async with staffed.client("alice") as agent:
            entry_path = await code_path(agent, "P1-IN", staffed.url)
            exit_path = await code_path(agent, "P1-OUT", staffed.url)
        assert (await phone.post(entry_path + "/enter")).status_code == 201
        left = await phone.post(exit_path + "/leave")
    assert (left.status_code, page_of(left)) == (200, "scan")
    [order_id] = emulator.orders
    assert exit_lane.driver.qr == emulator.orders[order_id].code_url
    emulator.pay(order_id)
    paid, closed = Paid(staffed), Heard(staffed, action(AuditAction.NOPLATE_EXITED))
    assert (await emulator.notify(order_id)).status == 200
    await paid.wait()
    assert (await closed.wait()).detail["order"] == order_id
    assert exit_lane.driver.opens == 1
    [stay] = await staffed.store.noplate_stays(PARK, 10)
    assert stay.state is StayState.EXITED


@pytest.mark.parametrize(
    ("fault", "status", "code"),
    [
        (Fault.SERVER_ERROR, 503, "wechat_server_error"),
        (Fault.TIMEOUT, 503, "wechat_timeout"),
        (Fault.FORGED_ANSWER, 502, "bad_signature"),
    ],
)
async def test_wechat_pay_failing_to_open_an_order_is_a_clear_error_and_shows_nothing(
    staffed: Centre,
    lanes: LaneFactory,
    emulator: WeChatPayEmulator,
    fault: Fault,
    status: int,
    code: str,
) -> None:
    """No QR code reaches the display; the ledger says the order was never opened."""
    lane = await lanes("P1-OUT")
    emulator.fail_next("create", fault)
    async with staffed.client("alice") as client:
        response = await issue(client, ORDER)
    assert (response.status_code, response.json()["error"]) == (status, code)
    assert (lane.driver.shown, lane.driver.qr) == ((), None)
    entries = await ledger(staffed)
    assert [(e.action, e.outcome) for e in entries] == [
        (AuditAction.PAYMENT_ORDERED, None),
        (AuditAction.PAYMENT_CANCELLED, code),
    ]
    order = entries[0].detail["order"]
    assert isinstance(order, str)
    assert await staffed.store.payment_order(order) is None


@pytest.mark.parametrize(
    ("path", "body", "status", "code"),
    [
        ("/pay/notify/alipay", b"{}", 404, "unknown_provider"),
        ("/pay/notify/sandbox", b"{}", 404, "unknown_provider"),
        ("/pay/notify/wechat", b"x" * (64 * 1024 + 1), 413, "too_large"),
        ("/pay/notify/wechat", b"{}", 400, "missing_signature"),
    ],
)
async def test_a_notification_to_nowhere_or_unsigned_is_refused_in_wechats_shape(
    staffed: Centre, path: str, body: bytes, status: int, code: str
) -> None:
    """The sandbox is not offered beside WeChat Pay: its notifications find nobody."""
    async with staffed.client() as client:
        response = await client.post(path, content=body)
    answer = response.json()
    assert (response.status_code, answer["error"], answer["code"]) == (status, code, "FAIL")


@pytest.mark.browser
async def test_the_agents_console_shows_a_payment_that_came_too_late_to_lift(
    staffed: Centre,
    lanes: LaneFactory,
    emulator: WeChatPayEmulator,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """The money arrived and the gate stayed down: the agent reads so, and it stays."""
    await lanes("P1-OUT")
    page = await consoles("alice")
    async with staffed.client("bob") as client:
        old = (await issue(client, ORDER)).json()
        emulator.pay(old["order_id"])
        await issue(client, {**ORDER, "amount_fen": 900})
    assert (await emulator.notify(old["order_id"])).status == 200
    notice = page.locator("#desk-notice")
    await expect(notice).to_have_attribute("data-notice", "payment.late")
    await expect(notice).to_contain_text(PLATE)
    await expect(notice).to_contain_text("8.00")
    await expect(notice).to_contain_text(old["order_id"])
