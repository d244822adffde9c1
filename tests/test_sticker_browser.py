"""A lane's help sticker downloaded from the lane board in a real headless Chromium:
supervisors have the action and get the file whose QR code is the lane's help page;
agents do not have it."""

from __future__ import annotations

import asyncio
import dataclasses
from pathlib import Path

import pytest
from playwright.async_api import Download, expect

from console.ledger import AuditAction
from console.models import Role
from console.settings import Settings
from console.sticker_token import StickerClaim
from tests.conftest import TEST_POLICY, Centre
from tests.test_calls import centre_with
from tests.test_calls_browser import OpenConsole, consoles  # noqa: F401
from tests.test_sticker_api import claim_of
from tests.test_stickers import BASE

pytestmark = pytest.mark.browser


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path, port=0, command_timeout_s=3.0, heartbeat=TEST_POLICY, public_url=BASE
    )


async def test_a_supervisor_downloads_a_lanes_sticker_and_an_agent_is_not_offered_one(
    staffed: Centre,
    consoles: OpenConsole,  # noqa: F811
) -> None:
    """帮助贴纸 on the lane's row saves sticker-P1-OUT.png, whose QR code a phone would
    take to P1-OUT's help page; the download is sue's in the ledger. alice's row has
    the lane's other actions and not this one."""
    await staffed.add_lane("P1-OUT")
    sue = await consoles("sue")
    button = sue.locator('#lanes [data-lane="P1-OUT"] button[data-action="sticker"]')
    await expect(button).to_be_visible()
    await expect(button).to_contain_text("帮助贴纸")
    async with sue.expect_download() as downloading:
        await button.click()
    download = await downloading.value
    assert download.suggested_filename == "sticker-P1-OUT.png"
    saved = await download.path()
    picture = await asyncio.to_thread(Path(saved).read_bytes)
    assert await claim_of(staffed, picture) == StickerClaim("P1-OUT", 1)
    entries = [e async for e in staffed.store.iter_audit()]
    assert [(e.actor, e.lane) for e in entries if e.action is AuditAction.STICKER_ISSUED] == [
        ("sue", "P1-OUT")
    ]

    alice = await consoles("alice")
    row = alice.locator('#lanes [data-lane="P1-OUT"]')
    await expect(row.locator('button[data-action="live"]')).to_be_visible()
    await expect(row.locator('button[data-action="sticker"]')).to_have_count(0)


async def test_without_a_public_url_the_supervisor_is_told_what_to_set(
    settings: Settings,
    consoles: OpenConsole,  # noqa: F811
    tmp_path: Path,
) -> None:
    """The centre's refusal is a message on the desk naming SEAT_PUBLIC_URL, not a
    file of JSON saved as a sticker."""
    (tmp_path / "bare").mkdir()
    bare = dataclasses.replace(settings, public_url=None, data_dir=tmp_path / "bare")
    async with centre_with(bare) as centre:
        await centre.add_lane("P1-OUT")
        await centre.add_user("sue", Role.SUPERVISOR)
        sue = await consoles("sue", centre)
        downloads: list[Download] = []
        sue.on("download", lambda download: downloads.append(download))
        await sue.click('#lanes [data-lane="P1-OUT"] button[data-action="sticker"]')
        notice = sue.locator("#desk-notice")
        await expect(notice).to_have_attribute("data-notice", "no_public_url")
        await expect(notice).to_contain_text("SEAT_PUBLIC_URL")
        assert downloads == []
