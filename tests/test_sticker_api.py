"""A supervisor's download of a lane's help sticker over HTTP from a running centre: the
file `seat lanes sticker` writes, its QR code read back by a real decoder, every
download in the ledger first, and every refusal a JSON error that changes nothing."""

from __future__ import annotations

import dataclasses
import sqlite3
from pathlib import Path

import httpx
import pytest

from console.ledger import AuditAction, AuditEntry
from console.models import Role
from console.settings import Settings
from console.sticker_token import StickerClaim
from console.stickers import check_sticker
from tests.conftest import TEST_POLICY, Centre
from tests.desks import desk
from tests.qr import qr_url
from tests.test_api import refuse_ledger_inserts
from tests.test_calls import centre_with
from tests.test_stickers import BASE, token_of

STICKER = "/api/lanes/P1-OUT/sticker"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    """A centre that knows the address drivers' phones reach it at."""
    return Settings(
        data_dir=tmp_path, port=0, command_timeout_s=3.0, heartbeat=TEST_POLICY, public_url=BASE
    )


async def issued(centre: Centre) -> list[AuditEntry]:
    return [e async for e in centre.store.iter_audit() if e.action is AuditAction.STICKER_ISSUED]


def error(response: httpx.Response) -> tuple[int, str]:
    return response.status_code, response.json()["error"]


async def claim_of(centre: Centre, picture: bytes) -> StickerClaim:
    """The lane and serial the picture's QR code stands for, as a scan would check it."""
    url = qr_url(picture)
    assert url.startswith(f"{BASE}/help/")
    key = await centre.store.get_sticker_key()
    assert key is not None
    return await check_sticker(centre.store, key, token_of(url))


async def test_a_supervisor_downloads_the_lanes_sticker_and_the_ledger_has_it_first(
    staffed: Centre,
) -> None:
    """A PNG named for the lane, whose QR code is the lane's working help URL; the
    download is a `sticker_issued` entry, which the supervisors' consoles are told of."""
    await staffed.add_lane("P1-OUT")
    async with desk(staffed, "sue") as sue:
        response = await sue.client.get(STICKER)
        assert response.status_code == 200, response.text
        assert response.headers["content-type"] == "image/png"
        assert response.headers["content-disposition"] == (
            'attachment; filename="sticker-P1-OUT.png"'
        )
        assert response.content.startswith(b"\x89PNG\r\n\x1a\n")
        assert await claim_of(staffed, response.content) == StickerClaim("P1-OUT", 1)
        told = await sue.next("audit", lambda m: m["entry"]["action"] == "sticker_issued")
    [entry] = await issued(staffed)
    assert told["entry"]["seq"] == entry.seq
    assert (entry.actor, entry.lane) == ("sue", "P1-OUT")
    assert entry.detail == {
        "serial": 1,
        "format": "png",
        "base_url": BASE,
        "role": "supervisor",
        "remote": "127.0.0.1",
    }


async def test_an_admin_gets_the_pdf_and_downloading_again_revokes_nothing(
    staffed: Centre,
) -> None:
    """The same sticker each time (a download is a copy, not a new serial), as an A6
    PDF on request, each copy in the ledger."""
    await staffed.add_lane("P1-OUT")
    await staffed.add_user("ada", Role.ADMIN)
    async with staffed.client("sue") as sue, staffed.client("ada") as ada:
        first = await sue.get(STICKER)
        pdf = await ada.get(f"{STICKER}?format=pdf")
    assert pdf.status_code == 200, pdf.text
    assert pdf.headers["content-type"] == "application/pdf"
    assert pdf.headers["content-disposition"] == 'attachment; filename="sticker-P1-OUT.pdf"'
    assert pdf.content.startswith(b"%PDF-")
    assert await claim_of(staffed, first.content) == StickerClaim("P1-OUT", 1)
    assert await staffed.store.sticker_serial("P1-OUT") == 1
    entries = await issued(staffed)
    assert [(e.actor, e.detail["format"], e.detail["role"]) for e in entries] == [
        ("sue", "png", "supervisor"),
        ("ada", "pdf", "admin"),
    ]


@pytest.mark.parametrize(
    ("user", "path", "status", "code"),
    [
        (None, STICKER, 401, "not_authenticated"),
        ("alice", STICKER, 403, "forbidden"),
        ("alice", f"{STICKER}?format=pdf", 403, "forbidden"),
        ("sue", "/api/lanes/NOWHERE/sticker", 404, "unknown_lane"),
        ("sue", f"/api/lanes/{'P' * 300}/sticker", 404, "unknown_lane"),
        ("sue", f"{STICKER}?format=gif", 400, "invalid_format"),
        ("sue", f"{STICKER}?format=", 400, "invalid_format"),
        ("sue", f"{STICKER}?format={'p' * 4000}", 400, "invalid_format"),
        ("sue", f"{STICKER}?format=png&format=pdf", 400, "bad_request"),
    ],
)
async def test_refused_downloads_send_no_sticker_and_change_nothing(
    staffed: Centre, user: str | None, path: str, status: int, code: str
) -> None:
    """Agents, strangers, unknown lanes and formats: a JSON error, no file, no ledger
    entry."""
    await staffed.add_lane("P1-OUT")
    async with staffed.client(user) as client:
        response = await client.get(path)
    assert error(response) == (status, code)
    assert "content-disposition" not in response.headers
    assert await issued(staffed) == []


@pytest.mark.parametrize("method", ["POST", "HEAD"])
async def test_only_a_get_is_a_download(staffed: Centre, method: str) -> None:
    """A HEAD would be answered as its GET by default: audited, with nothing sent."""
    await staffed.add_lane("P1-OUT")
    async with staffed.client("sue") as client:
        response = await client.request(method, STICKER)
    assert response.status_code == 405 and response.headers["allow"] == "GET"
    assert await issued(staffed) == []


async def test_without_a_public_url_the_centre_names_the_setting_instead_of_guessing(
    settings: Settings, tmp_path: Path
) -> None:
    """A sticker pointing at a guessed host would be glued to a pillar for years: 503
    naming SEAT_PUBLIC_URL, and nothing made."""
    (tmp_path / "bare").mkdir()
    bare = dataclasses.replace(settings, public_url=None, data_dir=tmp_path / "bare")
    async with centre_with(bare) as centre:
        await centre.add_lane("P1-OUT")
        await centre.add_user("sue", Role.SUPERVISOR)
        async with centre.client("sue") as client:
            response = await client.get(STICKER)
        assert error(response) == (503, "no_public_url")
        assert "SEAT_PUBLIC_URL" in response.json()["detail"]
        assert await issued(centre) == []


async def test_a_download_the_ledger_cannot_record_is_not_sent(staffed: Centre) -> None:
    """No audit, no sticker: 503 `audit_failed` and no file; once the ledger takes
    writes again the download goes through."""
    await staffed.add_lane("P1-OUT")
    refuse_ledger_inserts(staffed, AuditAction.STICKER_ISSUED)
    async with staffed.client("sue") as client:
        refused = await client.get(STICKER)
        assert error(refused) == (503, "audit_failed")
        assert "content-disposition" not in refused.headers
        assert await issued(staffed) == []
        with sqlite3.connect(staffed.settings.database) as conn:
            conn.execute("DROP TRIGGER ledger_refuses")
        assert (await client.get(STICKER)).status_code == 200
    assert len(await issued(staffed)) == 1
