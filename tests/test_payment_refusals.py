"""``POST /api/lanes/{lane_id}/payment`` refusing what it must not issue, over a real
centre and a real exit lane: each refusal has its status and code, and leaves every row,
the ledger and the lane's display as they were."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

import pytest

from console.billing.rules import Rules
from console.vehicles.model import VehicleEvent
from gates.vocabulary import Direction, PlateColour
from tests.conftest import Centre, Lane, LaneFactory
from tests.tables import kept
from tests.test_gatekeeping import ELSEWHERE, HOURLY, PARK, PLATE, parked
from tests.test_gatekeeping import settings as settings  # a centre paying in the sandbox

PATH = "/api/lanes/P1-OUT/payment"


@dataclass(frozen=True)
class Stays:
    """A stay of each kind an order may be asked for."""

    priced: int  # 2 h 1 min at 5 yuan an hour: 15 yuan
    free: int  # within the free minutes
    no_entry: int  # an exit with no entry: settled by hand
    elsewhere: int  # in another car park than the lane's


async def stay_of(centre: Centre, event: VehicleEvent) -> int:
    recorded = await centre.store.record_vehicle(event)
    assert recorded.stay_id is not None
    return recorded.stay_id


def event(plate: str, direction: Direction, car_park: str = PARK) -> VehicleEvent:
    at = datetime.now(UTC) - timedelta(minutes=30)
    return VehicleEvent(
        # An id the lane link would send (ASCII), distinct per plate and car park.
        event_id=f"{direction.value}-{plate.encode().hex()}-{car_park.encode().hex()[:12]}",
        lane="P1-OUT" if direction is Direction.EXIT else "P1-IN",
        car_park=car_park,
        direction=direction,
        at=at,
        received_at=at,
        plate=plate,
        plate_colour=PlateColour.BLUE,
        confidence=0.97,
        box=(120, 200, 140, 44),
        snapshot=None,
    )


async def ready(centre: Centre, lanes: LaneFactory) -> tuple[Lane, Stays]:
    """An exit lane on the link, its car park's rules (15 free minutes, then 5 yuan an
    hour) and one stay of each kind."""
    lane = await lanes("P1-OUT")
    await centre.store.set_billing_rules(PARK, Rules.parse(HOURLY), datetime.now(UTC))
    await centre.store.set_billing_rules(ELSEWHERE, Rules.parse(HOURLY), datetime.now(UTC))
    stays = Stays(
        priced=await parked(centre, 121),
        free=await parked(centre, 5, "粤B66666"),
        no_entry=await stay_of(centre, event("粤B77777", Direction.EXIT)),
        elsewhere=await stay_of(centre, event("粤B88888", Direction.ENTRY, ELSEWHERE)),
    )
    return lane, stays


def unchanged(lane: Lane) -> None:
    """Nothing reached the lane: no display, no QR code, no open."""
    assert (lane.driver.shown, lane.driver.qr, lane.driver.opens) == ((), None, 0)


Body = Callable[[Stays], object]


def plain(body: object) -> Body:
    return lambda _: body


# (name, body, status, error): every refusal of a JSON body the centre can read.
REFUSED: list[tuple[str, Body, int, str]] = [
    ("not an object", plain([PLATE]), 400, "bad_request"),
    ("a string", plain(PLATE), 400, "bad_request"),
    ("empty", plain({}), 400, "plate_required"),
    ("plate empty", plain({"plate": "", "amount_fen": 100}), 400, "plate_required"),
    ("plate only separators", plain({"plate": "·· ·", "amount_fen": 100}), 400, "plate_required"),
    ("no amount", plain({"plate": PLATE}), 400, "amount_required"),
    # the reason
    (
        "reason too long",
        lambda s: {"stay_id": s.priced, "amount_fen": 1000, "reason": "券" * 501},
        400,
        "note_too_long",
    ),
    (
        "reason a bell",
        plain({"plate": PLATE, "amount_fen": 100, "reason": "优惠\u0007"}),
        400,
        "bad_request",
    ),
    (
        "reason an escape",
        plain({"plate": PLATE, "amount_fen": 100, "reason": "\u001b[2J"}),
        400,
        "bad_request",
    ),
    (
        "reason bidirectional",
        plain({"plate": PLATE, "amount_fen": 100, "reason": "优惠\u202e"}),
        400,
        "bad_request",
    ),
    (
        "reason a number",
        plain({"plate": PLATE, "amount_fen": 100, "reason": 7}),
        400,
        "bad_request",
    ),
    (
        "reason blank",
        lambda s: {"stay_id": s.priced, "amount_fen": 1000, "reason": " \n "},
        400,
        "reason_required",
    ),
    # the amount
    *[
        (f"amount {amount!r}", plain({"plate": PLATE, "amount_fen": amount}), 400, "invalid_amount")
        for amount in (-1, -(10**30), 0, 10_000_001, 2**63, 2**70, 0.5, 15.5, 1500.0, 1e308)
    ],
    *[
        (f"amount {amount!r}", plain({"plate": PLATE, "amount_fen": amount}), 400, "invalid_amount")
        for amount in (True, False, "1500", "", [1500], {"fen": 1500})
    ],
    (
        "amount bad beside a stay",
        lambda s: {"stay_id": s.priced, "amount_fen": -1500, "reason": "x"},
        400,
        "invalid_amount",
    ),
    # the plate: every broken shape
    *[
        (f"plate {plate!r}", plain({"plate": plate, "amount_fen": 100}), 400, "invalid_plate")
        for plate in (
            "粤B1",
            "粤B1234",
            "粤B123456789",
            "粤BI2345",
            "粤BO2345",
            "XB12345",
            "台A12345",
            "粤112345",
            "京A1234港",
            "粤B1234学5",
            "粤BL12345",
            "粤BD1234A",
            "浙A12345G",
            "使22400A",
        )
    ],
    *[
        (f"plate {plate!r}", plain({"plate": plate, "amount_fen": 100}), 400, "bad_request")
        for plate in (
            "1" * 17,
            "粤B\n12345",
            "粤B\u000012345",
            "\u202e粤B12345",
            12345,
            ["粤B12345"],
            True,
        )
    ],
    # the stay
    *[
        (f"stay_id {stay!r}", plain({"stay_id": stay}), 400, "invalid_stay_id")
        for stay in (0, -1, 1.0, 1.5, "1", True, [1], 2**63, 10**30)
    ],
    *[
        (f"stay_id {stay!r}", plain({"stay_id": stay}), 404, "unknown_stay")
        for stay in (999_999, 2**63 - 1)
    ],
    ("stay in another car park", lambda s: {"stay_id": s.elsewhere}, 404, "unknown_stay"),
    (
        "stay elsewhere with an amount",
        lambda s: {"stay_id": s.elsewhere, "amount_fen": 100, "reason": "x"},
        404,
        "unknown_stay",
    ),
    ("stay with no entry", lambda s: {"stay_id": s.no_entry}, 400, "no_entry_time"),
    ("stay within free minutes", lambda s: {"stay_id": s.free}, 409, "nothing_to_pay"),
    (
        "stay's plate broken beside it",
        lambda s: {"stay_id": s.priced, "plate": "粤B1"},
        400,
        "invalid_plate",
    ),
]


@pytest.mark.parametrize(
    ("body", "status", "error"),
    [case[1:] for case in REFUSED],
    ids=[case[0] for case in REFUSED],
)
async def test_a_refused_order_keeps_nothing_and_shows_nothing(
    staffed: Centre, lanes: LaneFactory, body: Body, status: int, error: str
) -> None:
    lane, stays = await ready(staffed, lanes)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        response = await client.post(PATH, json=body(stays))
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert response.json()["detail"]
    assert kept(staffed) == before
    unchanged(lane)


async def test_a_broken_plate_names_what_is_wrong_and_where(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """As the plate check and a correction do: the console points at the character."""
    lane, _ = await ready(staffed, lanes)
    async with staffed.client("alice") as client:
        response = await client.post(PATH, json={"plate": "粤b·I2345", "amount_fen": 100})
    answer = response.json()
    assert (response.status_code, answer["error"]) == (400, "invalid_plate")
    assert (answer["plate"], answer["reason"], answer["position"]) == (
        "粤BI2345",
        "not_a_serial_character",
        2,
    )
    unchanged(lane)


# (name, raw body, content type, status, error): bodies that are not one JSON object.
RAW: list[tuple[str, bytes, str, int, str]] = [
    ("cut JSON", b'{"plate":', "application/json", 400, "bad_request"),
    ("empty body", b"", "application/json", 400, "bad_request"),
    ("null", b"null", "application/json", 400, "bad_request"),
    ("not UTF-8", b'{"plate":"\xff"}', "application/json", 400, "bad_request"),
    (
        "lone surrogate plate",
        b'{"plate":"\\ud800B12345","amount_fen":100}',
        "application/json",
        400,
        "bad_request",
    ),
    (
        "lone surrogate reason",
        b'{"plate":"' + PLATE.encode() + b'","amount_fen":100,"reason":"\\udfff"}',
        "application/json",
        400,
        "bad_request",
    ),
    (
        "a key twice",
        b'{"plate":"' + PLATE.encode() + b'","amount_fen":100,"amount_fen":1}',
        "application/json",
        400,
        "bad_request",
    ),
    (
        "a form",
        b"plate=x&amount_fen=100",
        "application/x-www-form-urlencoded",
        415,
        "unsupported_media_type",
    ),
    ("text", b'{"plate":"x"}', "text/plain", 415, "unsupported_media_type"),
    ("no content type", b'{"plate":"x"}', "", 415, "unsupported_media_type"),
    ("oversized", b'{"pad":"' + b"x" * 20_000 + b'"}', "application/json", 413, "too_large"),
]


@pytest.mark.parametrize(
    ("raw", "content_type", "status", "error"),
    [case[1:] for case in RAW],
    ids=[case[0] for case in RAW],
)
async def test_a_body_that_is_not_one_json_object_is_refused_and_keeps_nothing(
    staffed: Centre, lanes: LaneFactory, raw: bytes, content_type: str, status: int, error: str
) -> None:
    lane, _ = await ready(staffed, lanes)
    before = kept(staffed)
    headers = {"content-type": content_type} if content_type else {}
    async with staffed.client("alice") as client:
        if not content_type:
            client.headers.pop("content-type", None)
        response = await client.post(PATH, content=raw, headers=headers)
    assert (response.status_code, response.json()["error"]) == (status, error), response.text
    assert kept(staffed) == before
    unchanged(lane)


@pytest.mark.parametrize("settings", [{"public_url": None}], indirect=True)
async def test_without_a_public_url_no_order_is_issued(staffed: Centre, lanes: LaneFactory) -> None:
    """The pay link needs the address drivers' phones reach the centre at: no guess."""
    lane, stays = await ready(staffed, lanes)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        by_stay = await client.post(PATH, json={"stay_id": stays.priced})
        by_plate = await client.post(PATH, json={"plate": PLATE, "amount_fen": 100})
    for response in (by_stay, by_plate):
        assert (response.status_code, response.json()["error"]) == (503, "no_public_url")
    assert kept(staffed) == before
    unchanged(lane)


@pytest.mark.parametrize(
    ("lane_id", "status", "error"),
    [
        ("NOPE", 404, "unknown_lane"),
        ("P1-IN", 409, "not_exit_lane"),
        ("x" * 300, 404, "unknown_lane"),
        ("%E2%80%AE", 404, "unknown_lane"),
    ],
)
async def test_an_order_at_a_lane_that_is_no_exit_is_refused(
    staffed: Centre, lanes: LaneFactory, lane_id: str, status: int, error: str
) -> None:
    lane, stays = await ready(staffed, lanes)
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    before = kept(staffed)
    async with staffed.client("alice") as client:
        response = await client.post(
            f"/api/lanes/{lane_id}/payment", json={"stay_id": stays.priced}
        )
    assert (response.status_code, response.json()["error"]) == (status, error)
    assert kept(staffed) == before
    unchanged(lane)


async def test_an_order_needs_an_agent_signed_in_with_the_csrf_token(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane, stays = await ready(staffed, lanes)
    before = kept(staffed)
    body = {"stay_id": stays.priced}
    async with staffed.client() as stranger:
        anonymous = await stranger.post(PATH, json=body)
    async with staffed.client("alice") as client:
        forged = await client.post(PATH, json=body, headers={"x-csrf-token": "0" * 43})
        del client.headers["X-CSRF-Token"]
        bare = await client.post(PATH, json=body)
    assert [(r.status_code, r.json()["error"]) for r in (anonymous, forged, bare)] == [
        (401, "not_authenticated"),
        (403, "csrf"),
        (403, "csrf"),
    ]
    assert kept(staffed) == before
    unchanged(lane)


async def test_the_good_order_after_the_refusals_is_issued(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """The refusals above are of their bodies alone: the same lane and stay, asked
    rightly, give an order (so a refusal test can fail)."""
    lane, stays = await ready(staffed, lanes)
    async with staffed.client("alice") as client:
        response = await client.post(PATH, json={"stay_id": stays.priced})
    assert response.status_code == 201, response.text
    assert response.json()["amount_fen"] == 1500
    assert lane.driver.qr == response.json()["url"]
    assert len(kept(staffed)["payment_orders"]) == 1
