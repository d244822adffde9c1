"""Stay and order ids as clients send them, at every endpoint that takes one, over a real
centre: ids that name nothing (however large: past SQLite's 64-bit integers too) are
404 in a path, a body's past 64 bits 400 ``invalid_stay_id``, and keep nothing; a paid
order's agent open refuses bad bodies before anything."""

from __future__ import annotations

import pytest

from console.vehicles.model import VehicleEvent
from gates.vocabulary import Direction
from tests.conftest import Centre, LaneFactory
from tests.tables import kept
from tests.test_gatekeeping import PLATE, parked
from tests.test_gatekeeping import settings as settings  # a centre paying in the sandbox
from tests.test_payment_refusals import event

HUGE = [999_999, 2**63 - 1, 2**63, 2**64, 10**30]


async def an_exit(centre: Centre) -> VehicleEvent:
    """An exit read with no entry, which a match could close a stay by."""
    exit_event = event("粤B1Z345", Direction.EXIT)
    await centre.store.record_vehicle(exit_event)
    return exit_event


@pytest.mark.parametrize("stay_id", HUGE)
async def test_a_stay_id_that_names_nothing_is_unknown_stay_everywhere(
    staffed: Centre, lanes: LaneFactory, stay_id: int
) -> None:
    lane = await lanes("P1-OUT")
    await parked(staffed, 30)
    exit_event = await an_exit(staffed)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        answers = [
            await client.get(f"/api/stays/{stay_id}"),
            await client.post(
                f"/api/stays/{stay_id}/match", json={"event_id": exit_event.event_id}
            ),
            await client.post(f"/api/stays/{stay_id}/escape", json={"note": "冲卡"}),
            await client.post(f"/api/noplate/stays/{stay_id}/plate", json={"plate": PLATE}),
            await client.post("/api/lanes/P1-OUT/payment", json={"stay_id": stay_id}),
        ]
    # A path's id names no stay; a body's past 64 bits is no id at all (``fields.id_field``).
    paid = (404, "unknown_stay") if stay_id < 2**63 else (400, "invalid_stay_id")
    assert [(r.status_code, r.json()["error"]) for r in answers] == [(404, "unknown_stay")] * 4 + [
        paid
    ]
    assert kept(staffed) == before
    assert (lane.driver.shown, lane.driver.opens) == ((), 0)


ORDER = "/api/payments/{order}/open"


@pytest.mark.parametrize(
    ("order", "raw", "content_type", "status", "error"),
    [
        ("0" * 32, b"{}", "application/json", 404, "unknown_order"),
        ("x" * 300, b"{}", "application/json", 404, "unknown_order"),
        ("%E2%80%AE", b"{}", "application/json", 404, "unknown_order"),
        (
            "{order}",
            b'{"note":"' + "复".encode() * 501 + b'"}',
            "application/json",
            400,
            "note_too_long",
        ),
        ("{order}", b'{"note":7}', "application/json", 400, "bad_request"),
        ("{order}", b'{"note":"\\u0007"}', "application/json", 400, "bad_request"),
        ("{order}", b'{"note":"\\ud800"}', "application/json", 400, "bad_request"),
        ("{order}", b"[]", "application/json", 400, "bad_request"),
        ("{order}", b"{", "application/json", 400, "bad_request"),
        ("{order}", b'{"note":"x"}', "text/plain", 415, "unsupported_media_type"),
        ("{order}", b'{"pad":"' + b"x" * 20_000 + b'"}', "application/json", 413, "too_large"),
        ("{order}", b"{}", "application/json", 409, "order_not_paid"),
    ],
)
async def test_an_agents_open_for_an_order_refuses_what_it_cannot_carry_out(
    staffed: Centre,
    lanes: LaneFactory,
    order: str,
    raw: bytes,
    content_type: str,
    status: int,
    error: str,
) -> None:
    """Its open order, unpaid, is ``order_not_paid``; every refusal lifts nothing."""
    lane = await lanes("P1-OUT")
    async with staffed.client("alice") as client:
        issued = await client.post(
            "/api/lanes/P1-OUT/payment", json={"plate": PLATE, "amount_fen": 800}
        )
        assert issued.status_code == 201, issued.text
        before = kept(staffed)
        path = ORDER.format(order=order.format(order=issued.json()["order_id"]))
        response = await client.post(path, content=raw, headers={"content-type": content_type})
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert kept(staffed) == before
    assert lane.driver.opens == 0
