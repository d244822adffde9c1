"""The call workspace in a real headless Chromium, end to end: a car whose plate both
cameras misread calls from the exit; the agent answers, compares the crops, corrects
the exit's plate (the check marks a wrong character first), matches the exit to the
entry the centre ranks, has the OCR read the plate again, and issues the QR code. A
second page, the driver's phone, reads that QR code off the console's screen and pays;
the gate opens by itself, the console shows it, and the ledger holds each step. And
"paid but not lifted": the order, the notification and the refused open side by side,
one click to open again."""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
from playwright.async_api import Page, expect

from console.ledger import AuditAction, AuditEntry
from console.models import Direction
from console.settings import Settings
from gates.lane.drivers import CallPressed
from tests.conftest import TEST_POLICY, Centre, Lane, LaneFactory
from tests.lanes import seen
from tests.qr import qr_url
from tests.test_calls_browser import SCREENSHOTS, WAIT_MS, OpenConsole, consoles  # noqa: F401
from tests.test_gatekeeping import left, parked
from tests.test_pay_browser import phone_page  # noqa: F401
from tests.test_payments_api import BASE, HOURLY, PARK, Paid, ledger, pay_path
from tests.test_vehicle_records import next_recorded, recorded

pytestmark = pytest.mark.browser

RIGHT = "粤B12345"  # the plate on the car
EXIT_READ = "粤B1Z345"  # the exit camera's read: a Z for the 2
ENTRY_READ = "粤B1234S"  # the entry camera's read: an S for the 5
# A loaded image, its real size known: the crop the agent reads, not a broken icon.
LOADED = "(img) => img.complete && img.naturalHeight > 0 ? img.naturalHeight : 0"


@pytest.fixture
def settings(request: pytest.FixtureRequest, tmp_path: Path) -> Settings:
    """Pays in the sandbox at the drivers' address; a ring long enough for a loaded
    machine's browser to answer within it. A test may change more (``indirect``)."""
    base = Settings(
        data_dir=tmp_path,
        port=0,
        command_timeout_s=3.0,
        heartbeat=TEST_POLICY,
        call_ring_s=60.0,
        public_url=BASE,
        payment_sandbox=True,
    )
    return replace(base, **getattr(request, "param", {}))


async def screenshot(page: Page, name: str) -> None:
    """The README's picture of the workspace, written when SEAT_SCREENSHOTS=1."""
    shot = await page.locator("#call-workspace").screenshot()
    if os.environ.get("SEAT_SCREENSHOTS") == "1":
        SCREENSHOTS.mkdir(parents=True, exist_ok=True)
        (SCREENSHOTS / f"{name}.png").write_bytes(shot)


async def car_in_and_out(
    centre: Centre, lanes: LaneFactory, entry_read: str, exit_read: str
) -> tuple[str, int, Lane]:
    """The car entered 2 h 1 min ago (15 yuan at 5 an hour) and is at the exit now,
    each camera reading its plate as given (the pictures are of the car itself): the
    exit's event id, the entry's stay and the exit lane. An exit that found its stay
    has the centre's own order on its display by the time this returns, where the
    centre takes payments."""
    await centre.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    await centre.add_lane("P1-IN", Direction.ENTRY)
    entry_lane, exit_lane = await lanes("P1-IN"), await lanes("P1-OUT")
    now = datetime.now(UTC)
    system_order = asyncio.Event()

    def heard(entry: AuditEntry) -> None:
        if entry.action is AuditAction.DISPLAY_OUTCOME and entry.lane == "P1-OUT":
            system_order.set()

    unsubscribe = centre.audit.subscribe(heard)
    async with recorded(centre) as done:
        entry_lane.driver.emit(
            replace(seen(RIGHT), plate=entry_read, at=now - timedelta(minutes=121))
        )
        entered = await next_recorded(done)
        exit_lane.driver.emit(replace(seen(RIGHT), plate=exit_read, at=now - timedelta(seconds=20)))
        left = await next_recorded(done)
    if entry_read == exit_read and centre.settings.payment_sandbox:  # else no order
        async with asyncio.timeout(10):
            await system_order.wait()
    unsubscribe()
    assert entered.stay_id is not None
    return left.event_id, entered.stay_id, exit_lane


async def answer(page: Page, lane: Lane) -> str:
    """The exit's driver presses the call button and the agent answers: the call's id."""
    lane.driver.emit(CallPressed())
    ring = page.locator("#ring-card")
    await expect(ring).to_be_visible(timeout=WAIT_MS)
    call_id = await ring.get_attribute("data-call")
    assert call_id
    await page.click("#ring-accept")
    await expect(page.locator("#call-workspace")).to_have_attribute("data-call", call_id)
    return call_id


async def crop_height(page: Page, selector: str) -> int:
    handle = await page.wait_for_function(
        f"() => ({LOADED})(document.querySelector({selector!r}))", timeout=WAIT_MS
    )
    height: int = await handle.json_value()
    return height


async def issue_and_read_qr(page: Page) -> str:
    """The agent issues the payment by the rules: the URL the QR code on screen holds."""
    await page.click("#ws-pay-issue")
    order = page.locator("#ws-order")
    await expect(order).to_have_attribute("data-state", "open", timeout=WAIT_MS)
    await expect(page.locator("#ws-order-amount")).to_contain_text("15.00")
    await page.wait_for_function(f"() => ({LOADED})(document.querySelector('#ws-qr'))")
    # Read as a phone would: off the pixels the console draws, not the API's answer.
    return qr_url(await page.locator("#ws-qr").screenshot())


async def pay(phone: Page, centre: Centre, url: str) -> None:
    paid = Paid(centre)
    await phone.goto(centre.url + pay_path(url))
    await expect(phone.locator("#amount")).to_have_text("15.00元")
    await phone.locator("#pay").tap()
    await expect(phone.get_by_role("heading", name="已支付")).to_be_visible()
    await paid.wait()


async def test_a_misread_exit_is_corrected_matched_paid_on_a_phone_and_lifted(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    phone_page: Page,  # noqa: F811
) -> None:
    """Crops side by side, a wrong character marked, the correction, the match, the QR
    code read off the screen and paid on a phone, the barrier up by itself; the ledger
    holds each step, in order."""
    exit_event, stay_id, exit_lane = await car_in_and_out(staffed, lanes, ENTRY_READ, EXIT_READ)
    alice = await consoles("alice")
    await answer(alice, exit_lane)

    pair = alice.locator("#ws-pair")
    await expect(pair).to_have_attribute("data-event", exit_event, timeout=WAIT_MS)
    await expect(alice.locator("#ws-exit-plate")).to_have_attribute("data-plate", EXIT_READ)
    await expect(alice.locator("#ws-exit-confidence")).to_contain_text("97%")
    assert await crop_height(alice, "#ws-exit-crop") == 120
    await expect(alice.locator("#ws-entry")).to_have_attribute("data-state", "no_entry")
    await expect(alice.locator("#ws-fee")).to_have_attribute("data-fee-fen", "")

    # The agent types over the misread, an O where a 5 is: the check marks it.
    plate = alice.locator("#ws-plate")
    await expect(plate).to_have_value(EXIT_READ)
    await plate.fill("粤B1234O")
    wrong = alice.locator('#ws-plate-check [data-wrong="true"]')
    await expect(wrong).to_have_text("O")
    await expect(alice.locator("#ws-plate-error")).to_have_attribute(
        "data-error", "not_a_serial_character"
    )
    await expect(alice.locator("#ws-plate-submit")).to_be_disabled()
    await plate.fill(RIGHT)
    await expect(alice.locator("#ws-plate-check")).to_have_attribute("data-valid", "true")
    await expect(wrong).to_have_count(0)
    await alice.fill("#ws-plate-note", "按出口车牌截图更正")
    await alice.click("#ws-plate-submit")
    await expect(alice.locator("#ws-exit-confidence")).to_contain_text(RIGHT, timeout=WAIT_MS)

    # No stay of the true plate: the entry was misread too. The centre ranks it first.
    candidate = alice.locator(f'#ws-candidates [data-stay="{stay_id}"]')
    await expect(candidate).to_be_visible(timeout=WAIT_MS)
    await expect(candidate.locator(".plate")).to_have_attribute("data-plate", ENTRY_READ)
    assert await crop_height(alice, f'#ws-candidates [data-stay="{stay_id}"] img') == 120
    await candidate.locator('[data-action="match"]').click()

    entry = alice.locator("#ws-entry")
    await expect(entry).to_have_attribute("data-stay", str(stay_id), timeout=WAIT_MS)
    await expect(entry).to_have_attribute("data-state", "exited")
    assert await crop_height(alice, "#ws-entry-crop") == 120
    await expect(alice.locator("#ws-candidates-panel")).to_be_hidden()
    await expect(alice.locator("#ws-fee")).to_have_attribute("data-fee-fen", "1500")
    # The second reading agrees with the agent, not the camera: marked, nothing to use.
    await alice.click("#ws-read")
    await expect(alice.locator("#ws-reading")).to_have_attribute(
        "data-verdict", "disagrees", timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-reading-plate")).to_have_attribute("data-plate", RIGHT)
    await expect(alice.locator("#ws-reading-use")).to_be_hidden()

    url = await issue_and_read_qr(alice)
    assert url.startswith(BASE + "/pay/")
    assert exit_lane.driver.qr == url  # the lane's display shows the same code
    await pay(phone_page, staffed, url)

    await expect(alice.locator("#ws-order")).to_have_attribute(
        "data-state", "paid", timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-step-notice")).to_have_attribute("data-state", "paid")
    await expect(alice.locator("#ws-step-gate")).to_have_attribute("data-state", "done")
    await expect(alice.locator("#call-gate")).to_have_attribute("data-gate", "up")
    await expect(alice.locator("#ws-reopen")).to_be_hidden()
    assert exit_lane.driver.opens == 1
    assert exit_lane.driver.shown == ("已缴费", RIGHT, "请通行")
    await screenshot(alice, "console-workspace")

    entries = [
        e
        for e in await ledger(staffed)
        if e.action
        in (
            AuditAction.PLATE_CORRECTED,
            AuditAction.STAY_MATCHED,
            AuditAction.PAYMENT_ORDERED,
            AuditAction.PAYMENT_RECORDED,
            AuditAction.GATE_OPEN_REQUESTED,
            AuditAction.GATE_OPEN_OUTCOME,
        )
        and e.lane == "P1-OUT"  # the entry was let in by the centre: not this story
    ]
    corrected, matched, ordered, recorded_, opened, outcome = entries
    assert (corrected.action, corrected.actor, corrected.lane) == (
        AuditAction.PLATE_CORRECTED,
        "alice",
        "P1-OUT",
    )
    assert (corrected.detail["old_plate"], corrected.detail["new_plate"]) == (EXIT_READ, RIGHT)
    assert corrected.detail["note"] == "按出口车牌截图更正"
    assert (matched.action, matched.actor, matched.detail["stay"]) == (
        AuditAction.STAY_MATCHED,
        "alice",
        stay_id,
    )
    assert (matched.detail["old_plate"], matched.detail["new_plate"]) == (RIGHT, ENTRY_READ)
    assert (ordered.action, ordered.actor) == (AuditAction.PAYMENT_ORDERED, "alice")
    assert (recorded_.action, recorded_.outcome) == (AuditAction.PAYMENT_RECORDED, "paid")
    assert (opened.action, opened.actor, opened.reason) == (
        AuditAction.GATE_OPEN_REQUESTED,
        "system",
        "paid",
    )
    assert opened.detail["order"] == ordered.detail["order"]
    assert (outcome.action, outcome.outcome) == (AuditAction.GATE_OPEN_OUTCOME, "done")


async def test_paid_but_not_lifted_shows_the_refused_open_and_one_click_opens_again(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
    phone_page: Page,  # noqa: F811
) -> None:
    """The lane refuses the system's open: the console shows the order paid, its
    notification and the refused open side by side; the agent's retry opens the same
    order's gate, and the ledger ties both opens to it."""
    exit_event, stay_id, exit_lane = await car_in_and_out(staffed, lanes, RIGHT, RIGHT)
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    await expect(alice.locator("#ws-pair")).to_have_attribute(
        "data-event", exit_event, timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-entry")).to_have_attribute(
        "data-stay", str(stay_id), timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-candidates-panel")).to_be_hidden()
    await expect(alice.locator("#ws-fee")).to_have_attribute("data-fee-fen", "1500")

    url = await issue_and_read_qr(alice)
    exit_lane.driver.refuse = "gate_fault"
    await pay(phone_page, staffed, url)
    await expect(alice.locator("#ws-order")).to_have_attribute(
        "data-state", "paid", timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-step-notice")).to_have_attribute("data-state", "paid")
    await expect(alice.locator("#ws-step-gate")).to_have_attribute("data-state", "refused")
    reopen = alice.locator("#ws-reopen")
    await expect(reopen).to_be_visible()
    assert exit_lane.driver.opens == 0

    exit_lane.driver.refuse = None
    await reopen.click()
    await expect(alice.locator("#ws-step-gate")).to_have_attribute(
        "data-state", "done", timeout=WAIT_MS
    )
    await expect(reopen).to_be_hidden()
    assert exit_lane.driver.opens == 1
    order = await alice.locator("#ws-order").get_attribute("data-order")
    requested = [
        e
        for e in await ledger(staffed)
        if e.action is AuditAction.GATE_OPEN_REQUESTED and e.lane == "P1-OUT"
    ]
    assert [(e.actor, e.reason, e.detail["order"]) for e in requested] == [
        ("system", "paid", order),
        ("alice", "paid_not_lifted", order),
    ]


async def test_another_amount_needs_a_reason_and_is_ledgered_with_both(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """Not an amount, then another amount with no reason: refused beside the form and
    nothing issued; with the reason, the order takes it and the ledger keeps both. In
    English too."""
    _, _, exit_lane = await car_in_and_out(staffed, lanes, RIGHT, RIGHT)
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    await expect(alice.locator("#ws-fee")).to_have_attribute(
        "data-fee-fen", "1500", timeout=WAIT_MS
    )
    error = alice.locator("#ws-pay-error")
    await alice.fill("#ws-pay-amount", "-5")
    await alice.click("#ws-pay-issue")
    await expect(error).to_have_attribute("data-error", "amount_format")
    await alice.fill("#ws-pay-amount", "10")
    await alice.click("#ws-pay-issue")
    await expect(error).to_have_attribute("data-error", "reason_required", timeout=WAIT_MS)
    await expect(alice.locator("#ws-order")).to_be_hidden()
    # The lane shows the centre's own order still: the refused forms issued nothing.
    ordered = [e for e in await ledger(staffed) if e.action is AuditAction.PAYMENT_ORDERED]
    assert [e.actor for e in ordered] == ["system"]

    await alice.fill("#ws-pay-reason", "车主出示优惠券")
    await alice.click("#ws-pay-issue")
    await expect(alice.locator("#ws-order")).to_have_attribute(
        "data-state", "open", timeout=WAIT_MS
    )
    await expect(alice.locator("#ws-order-amount")).to_contain_text("10.00")
    await expect(error).to_be_hidden()
    [overridden] = [
        e for e in await ledger(staffed) if e.action is AuditAction.PAYMENT_AMOUNT_OVERRIDDEN
    ]
    assert (overridden.actor, overridden.reason) == ("alice", "车主出示优惠券")
    assert (overridden.detail["rules_fen"], overridden.detail["amount_fen"]) == (1500, 1000)
    # The workspace speaks English a click away, the order's state included.
    await alice.click("#lang-switch")
    await expect(alice.locator("#ws-title")).to_have_text("Vehicles and payment")
    await expect(alice.locator("#ws-step-order")).to_contain_text("Awaiting payment")
    await expect(alice.locator("#ws-fee")).to_contain_text("The rules charge 15.00 yuan")


async def test_the_fee_line_names_the_debts_the_exits_own_order_asks_beside_it(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """The plate escaped once before: its exit's own order asks 15 yuan of fee and 15
    of debt, and the agent who answers reads both on the fee line."""
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    before = await parked(staffed, 600, RIGHT)
    await left(staffed, 479, RIGHT)
    async with staffed.client("alice") as client:
        escape = await client.post(f"/api/stays/{before}/escape", json={"note": "冲卡"})
        assert escape.status_code == 201, escape.text
    _, _, exit_lane = await car_in_and_out(staffed, lanes, RIGHT, RIGHT)
    assert exit_lane.driver.shown == ("请扫码缴费", RIGHT, "30.00元")
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    fee = alice.locator("#ws-fee")
    await expect(fee).to_have_attribute("data-fee-fen", "1500", timeout=WAIT_MS)
    await expect(fee).to_have_attribute("data-debts-fen", "1500")
    await expect(fee).to_contain_text("另欠逃费 15.00 元")
