"""A car park's rules, lists and no-plate stays, and escapes, at the console in a real
headless Chromium against a real centre and real lanes: the panel opened from the lane
board shows what `seat parks rules set` and `seat parks lists set` stored; an escape
recorded from the call workspace is ledgered and its debt shows on the stay; a stay
without a plate is linked to a plate from the car park's list, the plate checked as it
is typed, and the ledger holds the correction with the old and the new plate."""

from __future__ import annotations

from datetime import date, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from playwright.async_api import Page, expect

from console.billing.lists import PlateLists
from console.billing.rules import Rules
from console.ledger import AuditAction
from console.parks import set_lists, set_rules
from gates.vocabulary import Direction
from tests.conftest import Centre, LaneFactory
from tests.details import at
from tests.noplate import code_path, page_of
from tests.test_calls_browser import WAIT_MS, OpenConsole, consoles  # noqa: F401
from tests.test_payments_api import PARK, ledger
from tests.test_workspace_browser import RIGHT, answer, car_in_and_out, settings  # noqa: F401

pytestmark = pytest.mark.browser

# Day and night bands, the first hour of the day dearer, both caps: every line the
# panel draws.
RULES = Rules.parse(
    {
        "free_minutes": 15,
        "free_minutes_deducted": True,
        "bands": [
            {
                "name": "白天",
                "start": "07:00",
                "end": "21:00",
                "period_minutes": 30,
                "fen_per_period": 300,
                "first_period": {"minutes": 60, "fen": 800},
                "cap_fen": 4000,
            },
            {
                "name": "夜间",
                "start": "21:00",
                "end": "07:00",
                "period_minutes": 60,
                "fen_per_period": 100,
            },
        ],
        "daily_cap_fen": 5000,
        "daily_cap_window": "rolling_24h",
        "stay_cap_fen": 20000,
    }
)
# Passes are sold by the day in Asia/Shanghai.
TODAY = datetime.now(ZoneInfo("Asia/Shanghai")).date()


def lists() -> PlateLists:
    """A pass valid today, one that ran out, a whitelisted and a blacklisted plate."""
    ended = date(2020, 1, 31).isoformat()
    return PlateLists.parse(
        {
            "monthly_passes": [
                {
                    "plate": "粤B11111",
                    "car_park": PARK,
                    "valid_from": (TODAY - timedelta(days=40)).isoformat(),
                    "valid_until": (TODAY + timedelta(days=40)).isoformat(),
                },
                {
                    "plate": "粤B22222",
                    "car_park": PARK,
                    "valid_from": "2020-01-01",
                    "valid_until": ended,
                },
            ],
            "whitelist": [{"plate": "粤O12345警", "note": "警车"}],
            "blacklist": [{"plate": "粤B66666", "car_park": PARK, "note": "多次冲卡"}],
        }
    )


async def open_park(page: Page) -> None:
    """The agent opens the car park's panel from its heading on the lane board."""
    await page.locator(f'.carpark[data-car-park="{PARK}"] [data-action="park"]').click()
    dialog = page.locator("#park-dialog")
    await expect(dialog).to_have_attribute("data-state", "loaded", timeout=WAIT_MS)


async def test_the_panel_shows_the_rules_and_lists_the_cli_stored(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """Free minutes, both bands with their times and prices in yuan, the caps; the
    passes with their days, valid today or not, the whitelist and the blacklist."""
    await lanes("P1-OUT")
    await set_rules(staffed.store, PARK, RULES)
    await set_lists(staffed.store, PARK, lists())
    alice = await consoles("alice")
    await open_park(alice)
    dialog = alice.locator("#park-dialog")
    await expect(dialog.locator("#park-name")).to_have_text(PARK)
    await expect(dialog).to_contain_text("seat parks rules set")
    rules = dialog.locator("#park-rules-body")
    await expect(rules).to_have_attribute("data-set", "true")
    await expect(rules.locator(".park-rules__free")).to_have_text(
        "免费时长 15 分钟（超时后扣除免费时长计费）"
    )
    day = rules.locator('[data-band="白天"]')
    await expect(day.locator(".park-band__time")).to_have_text("07:00–21:00")
    await expect(day.locator(".park-band__price")).to_have_text(
        "首 60 分钟 8.00 元，之后每 30 分钟 3.00 元"
    )
    await expect(day.locator(".park-band__cap")).to_have_text("40.00 元")
    night = rules.locator('[data-band="夜间"]')
    await expect(night.locator(".park-band__time")).to_have_text("21:00–07:00")
    await expect(night.locator(".park-band__price")).to_have_text("每 60 分钟 1.00 元")
    await expect(rules.locator(".park-caps li")).to_have_text(
        ["每日封顶 50.00 元（自入场起每 24 小时）", "单次停车封顶 200.00 元"]
    )

    passes = dialog.locator('[data-list="passes"]')
    await expect(passes.locator(".park-list__title")).to_have_text("月卡 · 2")
    await expect(passes.locator('[data-plate="粤B11111"]')).to_have_attribute("data-valid", "true")
    lapsed = passes.locator('[data-plate="粤B22222"]')
    await expect(lapsed).to_have_attribute("data-valid", "false")
    await expect(lapsed).to_contain_text("2020-01-01 至 2020-01-31")
    white = dialog.locator('[data-list="whitelist"] [data-plate="粤O12345警"]')
    await expect(white).to_contain_text("所有车场")
    await expect(white).to_contain_text("警车")
    black = dialog.locator('[data-list="blacklist"] [data-plate="粤B66666"]')
    await expect(black).to_contain_text("本车场")
    await expect(black).to_contain_text("多次冲卡")

    # Read-only: the panel offers no way to change them, and nothing was ledgered by it.
    await expect(dialog.locator("#park-rules-body input, #park-lists-body input")).to_have_count(0)
    await alice.click("#park-close")
    await expect(dialog).to_be_hidden()
    actions = [e.action for e in await ledger(staffed)]
    assert AuditAction.BILLING_RULES_SET in actions and AuditAction.PLATE_LISTS_SET in actions
    assert actions[-1] is AuditAction.PLATE_LISTS_SET


async def test_a_car_park_without_rules_says_so(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """No rules set: the panel says the car park's cars are settled by hand, in the
    agent's language; empty lists."""
    await lanes("P1-OUT")
    alice = await consoles("alice")
    await open_park(alice)
    rules = alice.locator("#park-rules-body")
    await expect(rules).to_have_attribute("data-set", "false")
    await expect(rules).to_contain_text("未设置收费规则")
    await alice.click("#park-close")
    await alice.click("#lang-switch")
    button = alice.locator(f'.carpark[data-car-park="{PARK}"] [data-action="park"]')
    await expect(button).to_contain_text("Rules and lists")
    await open_park(alice)
    await expect(rules).to_contain_text("No billing rules set")
    await expect(alice.locator("#park-dialog")).to_contain_text("seat parks lists set")
    await alice.click("#park-close")
    await alice.click("#lang-switch")
    await open_park(alice)
    await expect(alice.locator('[data-list="blacklist"] .park-list__title')).to_have_text(
        "黑名单（系统不放行，提醒坐席） · 0"
    )


async def test_an_escape_recorded_in_the_workspace_is_ledgered_and_owed_on_the_stay(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """A note is required; the amount defaults to the rules' fee; the agent confirms;
    the ledger holds the escape, the stay shows the debt, and a second one is refused."""
    _, stay_id, exit_lane = await car_in_and_out(staffed, lanes, RIGHT, RIGHT)
    alice = await consoles("alice")
    await answer(alice, exit_lane)
    escape = alice.locator("#ws-escape")
    await expect(escape).to_have_attribute("data-stay", str(stay_id), timeout=WAIT_MS)
    await expect(alice.locator("#ws-escape-amount")).to_have_attribute(
        "placeholder", "留空按收费规则：15.00 元"
    )

    # No note: refused on the page, nothing sent.
    await alice.click("#ws-escape-submit")
    await expect(alice.locator("#ws-escape-error")).to_have_attribute("data-error", "note_required")
    await expect(alice.locator("#ws-escape-confirm")).to_be_hidden()
    await alice.fill("#ws-escape-note", "抬杆时跟车冲出")
    for typed in ("-3", "0", "1.555", "十五", "1e3"):
        await alice.fill("#ws-escape-amount", typed)
        await alice.click("#ws-escape-submit")
        await expect(alice.locator("#ws-escape-error")).to_have_attribute(
            "data-error", "amount_format"
        )
        await expect(alice.locator("#ws-escape-confirm")).to_be_hidden()
    # Over the centre's 100 000 yuan: sent, refused there, shown, nothing owed.
    await alice.fill("#ws-escape-amount", "200000")
    await alice.click("#ws-escape-submit")
    await expect(alice.locator("#ws-escape-question")).to_have_text(
        f"确认记录 {RIGHT} 逃费 200000.00 元？"
    )
    await alice.click("#ws-escape-yes")
    await expect(alice.locator("#ws-escape-error")).to_have_attribute(
        "data-error", "invalid_amount", timeout=WAIT_MS
    )
    assert await staffed.store.owed_debts(RIGHT) == []
    await alice.fill("#ws-escape-amount", "")
    await alice.click("#ws-escape-submit")
    await expect(alice.locator("#ws-escape-question")).to_have_text(
        f"确认记录 {RIGHT} 逃费 按收费规则计？"
    )
    assert [e for e in await ledger(staffed) if e.action is AuditAction.ESCAPE_RECORDED] == []
    await alice.click("#ws-escape-yes")

    done = alice.locator("#ws-escape-done")
    await expect(done).to_have_attribute("data-fen", "1500", timeout=WAIT_MS)
    await expect(alice.locator("#ws-escape-owed")).to_have_attribute("data-debts-fen", "1500")
    # The stay's own debt is its fee: the order asks it once, not beside itself.
    await expect(alice.locator("#ws-fee")).to_have_attribute("data-debts-fen", "")
    [entry] = [e for e in await ledger(staffed) if e.action is AuditAction.ESCAPE_RECORDED]
    assert (entry.actor, entry.detail["stay"], entry.detail["note"]) == (
        "alice",
        stay_id,
        "抬杆时跟车冲出",
    )
    assert at(entry.detail, "debt", "fen") == 1500
    assert [d.fen for d in await staffed.store.owed_debts(RIGHT)] == [1500]

    # The same stay again: the centre refuses, the page says why, nothing more is owed.
    await alice.fill("#ws-escape-note", "再次记录")
    await alice.click("#ws-escape-submit")
    await alice.click("#ws-escape-yes")
    await expect(alice.locator("#ws-escape-error")).to_have_attribute(
        "data-error", "escape_recorded", timeout=WAIT_MS
    )
    assert [d.fen for d in await staffed.store.owed_debts(RIGHT)] == [1500]

    # The call's car park's rules are a click away from the workspace.
    await alice.click("#ws-park")
    dialog = alice.locator("#park-dialog")
    await expect(dialog).to_have_attribute("data-state", "loaded", timeout=WAIT_MS)
    await expect(dialog.locator("#park-name")).to_have_text(PARK)
    await expect(dialog.locator('[data-band="全天"] .park-band__price')).to_have_text(
        "每 60 分钟 5.00 元"
    )


async def test_a_no_plate_stay_is_linked_to_a_plate_from_the_car_parks_list(
    staffed: Centre,
    lanes: LaneFactory,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """Marked 无牌车 with its identity; a broken plate cannot be sent; the link is
    shown and ledgered as a correction from the identity to the plate."""
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    await lanes("P1-IN")
    await lanes("P1-OUT")
    async with staffed.client("alice") as agent:
        path = await code_path(agent, "P1-IN")
    async with staffed.client() as phone:
        entered = await phone.post(path + "/enter")
    assert entered.status_code == 201 and page_of(entered) == "entered"
    [stay] = await staffed.store.noplate_stays(PARK, 10)

    alice = await consoles("alice")
    await open_park(alice)
    item = alice.locator(f'#noplate-stays [data-stay="{stay.stay_id}"]')
    await expect(item).to_have_attribute("data-linked", "false", timeout=WAIT_MS)
    await expect(item).to_contain_text("无牌车")
    await expect(item).to_contain_text(stay.identity)
    await expect(item).to_contain_text("入口 P1-IN")
    await item.locator('[data-action="link"]').click()

    form = alice.locator("#noplate-link")
    await expect(form).to_have_attribute("data-stay", str(stay.stay_id))
    await alice.fill("#noplate-plate", "粤B1234O")
    await expect(alice.locator('#noplate-plate-check [data-wrong="true"]')).to_have_text("O")
    await expect(alice.locator("#noplate-submit")).to_be_disabled()
    await alice.fill("#noplate-plate", "粤b 12345")
    await expect(alice.locator("#noplate-plate-check")).to_have_attribute("data-valid", "true")
    await alice.fill("#noplate-note", "司机出示行驶证")
    await alice.click("#noplate-submit")

    await expect(item).to_have_attribute("data-linked", "true", timeout=WAIT_MS)
    await expect(item.locator(".plate")).to_have_attribute("data-plate", RIGHT)
    await expect(alice.locator("#noplate-done")).to_contain_text(RIGHT)
    await expect(form).to_be_hidden()
    corrected = [e for e in await ledger(staffed) if e.action is AuditAction.PLATE_CORRECTED]
    assert [(e.actor, e.detail["old_plate"], e.detail["new_plate"]) for e in corrected] == [
        ("alice", stay.identity, RIGHT)
    ]
    record = await staffed.store.stay(stay.stay_id)
    assert record is not None and record.plate == RIGHT

    # Linked already: the same plate again is refused by the centre and shown.
    await item.locator('[data-action="link"]').click()
    await alice.fill("#noplate-plate", RIGHT)
    await expect(alice.locator("#noplate-submit")).to_be_enabled()
    await alice.click("#noplate-submit")
    await expect(alice.locator("#noplate-error")).to_have_attribute(
        "data-error", "same_plate", timeout=WAIT_MS
    )
    assert len([e for e in await ledger(staffed) if e.action is AuditAction.PLATE_CORRECTED]) == 1
