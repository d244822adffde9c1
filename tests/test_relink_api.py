"""Bad requests to the plate crop, correction, candidates and match endpoints: each is
refused with its code and changes nothing, its ledger included."""

from __future__ import annotations

from dataclasses import replace
from typing import Any

import cv2
import httpx
import numpy as np
import pytest

from console.ledger import AuditAction
from console.models import Direction
from tests.conftest import Centre, LaneFactory
from tests.lanes import seen
from tests.test_plate_correction import MISREAD, PARK, RIGHT, entered_and_misread_exit
from tests.test_vehicle_records import next_recorded, recorded


async def what_stays(centre: Centre) -> tuple[object, ...]:
    """Everything a refused request must leave as it was (its logins are ledgered)."""
    relinks = (AuditAction.PLATE_CORRECTED, AuditAction.STAY_MATCHED)
    return (
        [entry async for entry in centre.store.iter_audit() if entry.action in relinks],
        await centre.store.open_stays(),
        await centre.store.lane_vehicles("P1-OUT", 10),
        await centre.store.lane_vehicles("P1-IN", 10),
    )


def refused(response: httpx.Response, status: int, code: str) -> dict[str, Any]:
    assert (response.status_code, response.json()["error"]) == (status, code), response.text
    body: dict[str, Any] = response.json()
    return body


# ------------------------------------------------------------------ crop


async def test_a_crop_of_an_unknown_event_or_a_pruned_snapshot_is_404(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    async with recorded(staffed) as done:
        lane.driver.emit(seen(RIGHT))
        left = await next_recorded(done)
    async with staffed.client("alice") as client:
        refused(await client.get("/api/vehicles/nope/crop"), 404, "unknown_vehicle")
        assert (await client.get(f"/api/vehicles/{left.event_id}/crop")).status_code == 200
        await staffed.store.forget_snapshots("snapshots/9999-12-31")
        refused(await client.get(f"/api/vehicles/{left.event_id}/crop"), 404, "no_snapshot")
    async with staffed.client() as anonymous:
        response = await anonymous.get(f"/api/vehicles/{left.event_id}/crop")
        refused(response, 401, "not_authenticated")


async def test_a_read_with_no_box_gets_the_crop_of_the_plate_found(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """A camera that sends no box (0 by 0): the plate is located in the snapshot."""
    lane = await lanes("P1-OUT")
    async with recorded(staffed) as done:
        lane.driver.emit(replace(seen(RIGHT), box=(0, 0, 0, 0)))
        left = await next_recorded(done)
    async with staffed.client("alice") as client:
        response = await client.get(f"/api/vehicles/{left.event_id}/crop")
    assert (response.status_code, response.headers["content-type"]) == (200, "image/jpeg")


async def test_a_snapshot_with_no_plate_in_it_has_no_crop(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """No box and nothing like a plate in the picture: 404 ``no_plate``."""
    ok, grey = cv2.imencode(".jpg", np.full((360, 640, 3), 128, np.uint8))
    assert ok
    lane = await lanes("P1-OUT")
    async with recorded(staffed) as done:
        lane.driver.emit(replace(seen(RIGHT), box=(0, 0, 0, 0), snapshot_jpeg=grey.tobytes()))
        left = await next_recorded(done)
    async with staffed.client("alice") as client:
        refused(await client.get(f"/api/vehicles/{left.event_id}/crop"), 404, "no_plate")


# ------------------------------------------------------------------ correction


@pytest.mark.parametrize(
    ("body", "status", "code", "reason", "position"),
    [
        ({"plate": "粤BI2345"}, 400, "invalid_plate", "not_a_serial_character", 2),
        ({"plate": "XB12345"}, 400, "invalid_plate", "not_a_province", 0),
        ({"plate": "粤112345"}, 400, "invalid_plate", "not_an_authority", 1),
        ({"plate": "粤B1234"}, 400, "invalid_plate", "wrong_length", None),
        ({"plate": "粤B123456789"}, 400, "invalid_plate", "wrong_length", None),
        ({"plate": ""}, 400, "invalid_plate", "wrong_length", None),
        ({"plate": "京A1234港"}, 400, "invalid_plate", "not_a_serial_character", 6),
        ({"plate": "粤B1234学5"}, 400, "invalid_plate", "not_a_digit", 6),
        ({"plate": "1" * 17}, 400, "bad_request", None, None),
        ({"plate": "粤B\n12345"}, 400, "bad_request", None, None),
        ({"plate": "\u202e粤B12345"}, 400, "bad_request", None, None),
        ({"plate": 12345}, 400, "bad_request", None, None),
        ({"plate": None}, 400, "bad_request", None, None),
        ({}, 400, "bad_request", None, None),
        ({"plate": RIGHT, "note": "x" * 501}, 400, "note_too_long", None, None),
        ({"plate": RIGHT, "note": "\u0007"}, 400, "bad_request", None, None),
        ([RIGHT], 400, "bad_request", None, None),
        ({"plate": MISREAD}, 409, "same_plate", None, None),
    ],
)
async def test_a_correction_that_is_not_one_plate_changes_nothing(
    staffed: Centre,
    lanes: LaneFactory,
    body: object,
    status: int,
    code: str,
    reason: str | None,
    position: int | None,
) -> None:
    """Every broken shape of a plate says what is wrong and where, as the plate check."""
    _, left = await entered_and_misread_exit(staffed, lanes)
    before = await what_stays(staffed)
    async with staffed.client("alice") as client:
        response = await client.post(f"/api/vehicles/{left.event_id}/plate", json=body)
    answer = refused(response, status, code)
    if code == "invalid_plate":
        assert (answer["reason"], answer["position"]) == (reason, position)
        assert answer["detail"]
    assert await what_stays(staffed) == before


async def test_a_correction_must_be_json_logged_in_and_csrf_checked(
    staffed: Centre, lanes: LaneFactory
) -> None:
    _, left = await entered_and_misread_exit(staffed, lanes)
    path = f"/api/vehicles/{left.event_id}/plate"
    before = await what_stays(staffed)
    async with staffed.client("alice") as client:
        refused(
            await client.post("/api/vehicles/nope/plate", json={"plate": RIGHT}),
            404,
            "unknown_vehicle",
        )
        json_type = {"content-type": "application/json"}
        refused(await client.post(path, content=b"{", headers=json_type), 400, "bad_request")
        response = await client.post(path, content=b"plate", headers={"content-type": "text/plain"})
        refused(response, 415, "unsupported_media_type")
        refused(
            await client.post(path, content=b" " * 70_000, headers=json_type),
            413,
            "too_large",
        )
        del client.headers["X-CSRF-Token"]
        refused(await client.post(path, json={"plate": RIGHT}), 403, "csrf")
    async with staffed.client() as anonymous:
        refused(await anonymous.post(path, json={"plate": RIGHT}), 401, "not_authenticated")
    assert await what_stays(staffed) == before


# ------------------------------------------------------------------ candidates


@pytest.mark.parametrize(
    "query",
    [
        f"plate={MISREAD}",
        f"car_park={PARK}",
        f"car_park={PARK}&plate=",
        f"car_park=&plate={MISREAD}",
        f"car_park={PARK}&plate={MISREAD}&plate={RIGHT}",
        f"car_park={PARK}&car_park={PARK}&plate={MISREAD}",
        f"car_park={PARK}&plate=" + "1" * 17,
        f"car_park={'停' * 65}&plate={MISREAD}",
        f"car_park={PARK}&plate=粤B%0A12345",
        f"car_park={PARK}%E2%80%AE&plate={MISREAD}",
        f"car_park={PARK}&plate={MISREAD}&limit=0",
        f"car_park={PARK}&plate={MISREAD}&limit=21",
        f"car_park={PARK}&plate={MISREAD}&limit=five",
        f"car_park={PARK}&plate={MISREAD}&limit=",
        f"car_park={PARK}&plate={MISREAD}&limt=5",
    ],
)
async def test_candidates_need_one_car_park_and_one_plate_of_text(
    staffed: Centre, query: str
) -> None:
    await staffed.add_lane("P1-OUT")
    async with staffed.client("alice") as client:
        refused(await client.get(f"/api/stays/candidates?{query}"), 400, "bad_request")


async def test_candidates_refuse_a_long_query_an_unknown_car_park_and_strangers(
    staffed: Centre,
) -> None:
    await staffed.add_lane("P1-OUT")
    async with staffed.client("alice") as client:
        long = f"car_park={PARK}&plate={MISREAD}&" + "x" * 1024
        refused(await client.get(f"/api/stays/candidates?{long}"), 400, "query_too_long")
        response = await client.get(
            "/api/stays/candidates", params={"car_park": "解放路停车场", "plate": MISREAD}
        )
        refused(response, 404, "unknown_car_park")
        response = await client.get(
            "/api/stays/candidates", params={"car_park": PARK, "plate": MISREAD, "limit": "20"}
        )
        assert response.json() == {"candidates": []}
    async with staffed.client() as anonymous:
        response = await anonymous.get(
            "/api/stays/candidates", params={"car_park": PARK, "plate": MISREAD}
        )
        refused(response, 401, "not_authenticated")


async def test_candidates_are_limited_and_ranked_best_first(
    staffed: Centre, lanes: LaneFactory
) -> None:
    """Three look-alike entries: ``limit`` keeps the best, the exact plate first."""
    await staffed.add_lane("P1-IN", Direction.ENTRY)
    lane = await lanes("P1-IN")
    async with recorded(staffed) as done:
        for plate in ("粤B1Z345", "粤B12345", "粤B12845"):
            lane.driver.emit(seen(plate))
            await next_recorded(done)
    async with staffed.client("alice") as client:
        response = await client.get(
            "/api/stays/candidates", params={"car_park": PARK, "plate": RIGHT, "limit": "2"}
        )
    assert [(each["plate"], each["cost"]) for each in response.json()["candidates"]] == [
        (RIGHT, 0),
        ("粤B1Z345", 1),
    ]


# ------------------------------------------------------------------ match


async def test_a_match_that_cannot_be_is_refused_and_changes_nothing(
    staffed: Centre, lanes: LaneFactory
) -> None:
    entered, left = await entered_and_misread_exit(staffed, lanes)
    in_lane = await lanes("P1-IN")
    out_lane = await lanes("P1-OUT")
    async with recorded(staffed) as done:
        in_lane.driver.emit(seen("粤A88888"))
        other = await next_recorded(done)
        out_lane.driver.emit(seen("粤A88888"))
        closed = await next_recorded(done)
    stay = f"/api/stays/{entered.stay_id}/match"
    before = await what_stays(staffed)
    async with staffed.client("alice") as client:
        for path, body, status, code in (
            ("/api/stays/999999/match", {"event_id": left.event_id}, 404, "unknown_stay"),
            (stay, {"event_id": "nope"}, 404, "unknown_vehicle"),
            (stay, {"event_id": entered.event_id}, 409, "not_an_exit"),
            (stay, {"event_id": closed.event_id}, 409, "already_matched"),
            (
                f"/api/stays/{other.stay_id}/match",
                {"event_id": left.event_id},
                409,
                "stay_not_open",
            ),
            (stay, {}, 400, "bad_request"),
            (stay, {"event_id": 7}, 400, "bad_request"),
            (stay, {"event_id": "../etc"}, 400, "bad_request"),
            (stay, {"event_id": "x" * 65}, 400, "bad_request"),
            ("/api/stays/one/match", {"event_id": left.event_id}, 404, "not_found"),
        ):
            refused(await client.post(path, json=body), status, code)
        del client.headers["X-CSRF-Token"]
        refused(await client.post(stay, json={"event_id": left.event_id}), 403, "csrf")
    async with staffed.client() as anonymous:
        response = await anonymous.post(stay, json={"event_id": left.event_id})
        refused(response, 401, "not_authenticated")
    assert await what_stays(staffed) == before
