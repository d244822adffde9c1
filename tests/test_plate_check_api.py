"""``GET /api/plates/check``: what an agent's console asks of a plate as it is typed,
over a real centre, and the same verdict when a form refuses a plate."""

from __future__ import annotations

from typing import Any

import pytest

from tests.conftest import Centre


async def checked(centre: Centre, query: str) -> tuple[int, dict[str, Any]]:
    async with centre.client("alice") as client:
        response = await client.get(f"/api/plates/check?{query}")
    return response.status_code, response.json()


@pytest.mark.parametrize(
    ("typed", "plate", "kind"),
    [
        ("粤b·12345", "粤B12345", "ordinary"),
        ("京ＡＤ１２３４５", "京AD12345", "new_energy_small"),
        ("沪A12345F", "沪A12345F", "new_energy_large"),
        ("粤Z1234港", "粤Z1234港", "hong_kong"),
        ("苏A1234学", "苏A1234学", "coach"),
    ],
)
async def test_a_plate_the_car_park_accepts_is_valid_with_its_kind(
    staffed: Centre, typed: str, plate: str, kind: str
) -> None:
    """Full-width letters and separators fold as everywhere else; the kind is named."""
    status, body = await checked(staffed, f"plate={typed}")
    assert status == 200
    assert body == {
        "plate": plate,
        "valid": True,
        "kind": kind,
        "error": None,
        "position": None,
        "detail": None,
    }


@pytest.mark.parametrize(
    ("typed", "error", "position"),
    [
        ("粤BI2345", "not_a_serial_character", 2),  # I is never issued: it reads as 1
        ("XB12345", "not_a_province", 0),
        ("粤112345", "not_an_authority", 1),
        ("粤B1234", "wrong_length", None),
        ("粤B123456789", "wrong_length", None),
    ],
)
async def test_a_plate_that_breaks_the_format_says_what_and_where(
    staffed: Centre, typed: str, error: str, position: int | None
) -> None:
    """Not a plate is an answer, not a refusal: 200 with the first wrong character."""
    status, body = await checked(staffed, f"plate={typed}")
    assert status == 200
    assert (body["valid"], body["kind"], body["error"], body["position"]) == (
        False,
        None,
        error,
        position,
    )
    assert body["detail"]


async def test_bytes_that_are_not_utf8_are_just_not_a_plate(staffed: Centre) -> None:
    """A query string's broken UTF-8 (a lone surrogate's CESU bytes) decodes to U+FFFD,
    which no plate has: the answer says so, and the centre carries on."""
    status, body = await checked(staffed, "plate=%ED%A0%80B12345")
    assert (status, body["valid"]) == (200, False)
    assert body["plate"].startswith("\ufffd")


@pytest.mark.parametrize(
    "query",
    [
        "",
        "plate=",
        "plate=粤B12345&plate=粤B12346",
        "plate=粤B12345&kind=ordinary",  # an unknown parameter is a mistake, not ignored
        "plate=" + "1" * 17,
        "plate=粤B%0A12345",
        "plate=%E2%80%AE12345",  # a right-to-left override: text that hides what it says
    ],
)
async def test_a_check_without_one_plate_of_text_is_400(staffed: Centre, query: str) -> None:
    status, body = await checked(staffed, query)
    assert (status, body["error"]) == (400, "bad_request")


async def test_a_check_needs_a_login(staffed: Centre) -> None:
    async with staffed.client() as client:
        response = await client.get("/api/plates/check?plate=粤B12345")
    assert (response.status_code, response.json()["error"]) == (401, "not_authenticated")
