"""A stay's id, in a path or a body, is a whole number from 1 to SQLite's largest
integer (``console.fields.ID_MAX``): anything else names no stay and is refused with
the endpoint's own error, changing nothing, instead of reaching the driver (which
refuses to bind 2**63 and answered 500). Over a real centre paying in the sandbox."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.billing.rules import Rules
from console.errors import BadRequest
from console.fields import ID_MAX, id_field, is_row_id
from tests.conftest import Centre
from tests.test_gatekeeping import HOURLY, PARK, PLATE, parked
from tests.test_gatekeeping import settings as settings  # a centre paying in the sandbox

# Every endpoint taking a stay's id in its path, with a body it would otherwise take.
STAY_PATHS: list[tuple[str, str, object]] = [
    ("GET", "/api/stays/{}", None),
    ("POST", "/api/stays/{}/escape", {"note": "冲卡"}),
    ("POST", "/api/stays/{}/match", {"event_id": "out-1"}),
    ("POST", "/api/noplate/stays/{}/plate", {"plate": PLATE}),
]
# Ids that can be no row's, as a path spells them: the router takes digits only.
UNNAMED = [str(2**63), str(10**40), "0", "000"]
UNROUTED = ["-1", "1.5", "1e3", "abc", "%201"]


async def ledger_size(centre: Centre) -> int:
    return len([entry async for entry in centre.store.iter_audit()])


@pytest.mark.parametrize(("method", "path", "body"), STAY_PATHS)
async def test_a_stay_id_no_row_can_have_is_unknown_stay_and_changes_nothing(
    staffed: Centre, method: str, path: str, body: object
) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await parked(staffed, 121)
    async with staffed.client("alice") as client:
        before = await ledger_size(staffed)  # the login's entry made
        for stay_id in UNNAMED:
            response = await client.request(method, path.format(stay_id), json=body)
            assert (response.status_code, response.json()["error"]) == (404, "unknown_stay"), (
                stay_id,
                response.text,
            )
        for stay_id in UNROUTED:
            response = await client.request(method, path.format(stay_id), json=body)
            assert (response.status_code, response.json()["error"]) == (404, "not_found"), (
                stay_id,
                response.text,
            )
    assert await ledger_size(staffed) == before
    assert await staffed.store.owed_debts(PLATE) == []


@pytest.mark.parametrize(
    "stay_id", [2**63, 10**40, 0, -1, -(2**63), 1.5, 1.0, "1", "abc", True, [1], {"id": 1}]
)
async def test_an_orders_stay_id_that_is_no_id_is_invalid_stay_id_and_orders_nothing(
    staffed: Centre, stay_id: object
) -> None:
    await staffed.add_lane("P1-OUT")
    await staffed.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await parked(staffed, 121)
    async with staffed.client("alice") as client:
        before = await ledger_size(staffed)
        response = await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": stay_id})
    assert (response.status_code, response.json()["error"]) == (400, "invalid_stay_id")
    assert await ledger_size(staffed) == before
    assert await staffed.store.open_payment_orders("P1-OUT") == []


async def test_the_largest_id_names_no_stay_but_is_an_id(staffed: Centre) -> None:
    """2**63 - 1 reaches the store, which finds nothing: 404, not 400 and not 500."""
    await staffed.add_lane("P1-OUT")
    async with staffed.client("alice") as client:
        response = await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": ID_MAX})
        shown = await client.get(f"/api/stays/{ID_MAX}")
    assert (response.status_code, response.json()["error"]) == (404, "unknown_stay")
    assert (shown.status_code, shown.json()["error"]) == (404, "unknown_stay")


def test_the_id_reader_takes_whole_numbers_in_sqlites_range_only() -> None:
    assert [is_row_id(v) for v in (1, ID_MAX, 0, ID_MAX + 1, True, 1.0, "1", None)] == [
        True,
        True,
        False,
        False,
        False,
        False,
        False,
        False,
    ]
    assert id_field({}, "stay_id", code="invalid_stay_id") is None
    assert id_field({"stay_id": None}, "stay_id", code="invalid_stay_id") is None
    assert id_field({"stay_id": 7}, "stay_id", code="invalid_stay_id") == 7
    with pytest.raises(BadRequest) as refused:
        id_field({"stay_id": 2**63}, "stay_id", code="invalid_stay_id")
    assert refused.value.code == "invalid_stay_id"
