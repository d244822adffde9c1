"""One stay over HTTP: its entry's crop and what the rules charge it now, as the call
workspace shows it beside an exit; a stay no fee can be computed for still answers,
with the reason; ids that name no stay are 404."""

from __future__ import annotations

from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from console.billing.rules import Rules
from console.models import Direction
from tests.conftest import Centre, LaneFactory
from tests.lanes import seen
from tests.test_plate_correction import PARK, RIGHT, entered_and_misread_exit
from tests.test_relink_api import refused
from tests.test_vehicle_records import next_recorded, recorded

HOURLY = Rules.parse(
    {
        "bands": [
            {
                "name": "全天",
                "start": "00:00",
                "end": "00:00",
                "period_minutes": 60,
                "fen_per_period": 500,
            }
        ]
    }
)


async def test_a_stay_shows_its_entry_crop_and_the_fee_now(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A car in 2 h 1 min ago at 5 yuan an hour: 3 started hours, 15 yuan; the crop
    URL serves the entry's plate."""
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    entry_lane = await lanes("P1-IN")
    at = datetime.now(UTC) - timedelta(minutes=121)
    async with recorded(staffed) as done:
        entry_lane.driver.emit(replace(seen(RIGHT), at=at))
        entered = await next_recorded(done)
    async with staffed.client("alice") as client:
        response = await client.get(f"/api/stays/{entered.stay_id}")
        assert response.status_code == 200, response.text
        body = response.json()
        crop = await client.get(body["crop_url"])
    assert body == {
        "stay_id": entered.stay_id,
        "plate": RIGHT,
        "no_plate": False,
        "car_park": PARK,
        "state": "open",
        "entered_at": body["entered_at"],
        "entry_event": entered.event_id,
        "crop_url": f"/api/vehicles/{entered.event_id}/crop",
        "fee_fen": 1500,
        "fee_error": None,
        "debts": [],
        "debts_fen": 0,
        "escape": None,
    }
    # The wire carries milliseconds.
    assert abs(datetime.fromisoformat(body["entered_at"]) - at) < timedelta(milliseconds=1)
    assert (crop.status_code, crop.headers["content-type"]) == (200, "image/jpeg")


async def test_a_car_park_without_rules_gives_no_fee_and_says_why(
    staffed: Centre, lanes: LaneFactory
) -> None:
    entered, _ = await entered_and_misread_exit(staffed, lanes)
    async with staffed.client("alice") as client:
        body = (await client.get(f"/api/stays/{entered.stay_id}")).json()
    assert (body["fee_fen"], body["fee_error"]) == (None, "no_billing_rules")


async def test_an_exit_with_no_entry_has_no_fee_to_charge(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The misread exit's own ``no_entry`` stay: no entry time, no crop of an entry."""
    await staffed.store.set_billing_rules(PARK, HOURLY, datetime.now(UTC))
    _, left = await entered_and_misread_exit(staffed, lanes)
    async with staffed.client("alice") as client:
        body = (await client.get(f"/api/stays/{left.stay_id}")).json()
    assert (body["state"], body["entered_at"], body["entry_event"], body["crop_url"]) == (
        "no_entry",
        None,
        None,
        None,
    )
    assert (body["fee_fen"], body["fee_error"]) == (None, "no_entry_time")


@pytest.mark.parametrize(
    ("path", "code"),
    [
        ("/api/stays/999", "unknown_stay"),
        ("/api/stays/0", "unknown_stay"),
        (f"/api/stays/{2**63}", "unknown_stay"),
        (f"/api/stays/{10**40}", "unknown_stay"),
        ("/api/stays/-1", "not_found"),
        ("/api/stays/1.5", "not_found"),
        ("/api/stays/abc", "not_found"),
    ],
)
async def test_an_id_that_names_no_stay_is_404(staffed: Centre, path: str, code: str) -> None:
    async with staffed.client("alice") as client:
        refused(await client.get(path), 404, code)


async def test_a_stay_is_for_logged_in_agents_only(staffed: Centre, lanes: LaneFactory) -> None:
    entered, _ = await entered_and_misread_exit(staffed, lanes)
    async with staffed.client() as anonymous:
        refused(await anonymous.get(f"/api/stays/{entered.stay_id}"), 401, "not_authenticated")
