"""A lane's help sticker, issued and checked against the store: the I/O around the pure
token (``sticker_token``) and drawing (``sticker_print``).

The signing key is shared by every centre on one database, so it lives in the store:
made with ``secrets`` the first time any process needs it, inserted once (a second
process racing to make it gets the first one's). An operator who keeps secrets outside
the database sets ``SEAT_STICKER_KEY`` instead, on every centre. Each lane's sticker
serial lives in the store too: ``seat lanes sticker ID --revoke`` bumps it, which every
centre reads at the next scan; the bump is also a change to the lane in the change feed.
"""

from __future__ import annotations

import asyncio
import logging
import secrets
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Protocol

from .errors import NotConfigured, NotFound, StoreError
from .ledger import AuditAction, AuditEntry, AuditRecord
from .settings import Settings
from .sticker_format import StickerFormat
from .sticker_print import Sticker, find_cjk_font, render_sticker
from .sticker_token import KEY_BYTES, StickerClaim, admit, make_token, read_token
from .store import Store

HELP_PATH = "/help/"

log = logging.getLogger("seat.stickers")

Recorder = Callable[[AuditRecord], Awaitable[AuditEntry]]


class SerialSource(Protocol):
    """Where a lane's current sticker serial is read: the store, or a cache of it."""

    async def sticker_serial(self, lane_id: str) -> int | None: ...


@dataclass(frozen=True, slots=True)
class Issuer:
    """Who asks for a sticker, and the way their entries take into the ledger: the store
    itself for ``seat lanes sticker``, the centre's ``AuditLog`` for a supervisor's
    download (so the supervisors' consoles and the checkpoints hear of it too)."""

    actor: str
    record: Recorder
    # What else the entry says of the request: a console's role and client address.
    context: Mapping[str, str] = field(default_factory=dict)


@dataclass(frozen=True, slots=True)
class PrintedSticker:
    sticker: Sticker
    data: bytes  # the file, in the format asked for


def public_base(settings: Settings, base_url: str | None = None) -> str:
    """``base_url`` if given, else ``SEAT_PUBLIC_URL``; never a guess, since a sticker
    pointing at the wrong host is glued to a pillar for years."""
    base = base_url or settings.public_url
    if base is None:
        raise NotConfigured(
            "no_public_url",
            "a sticker's QR code needs the address drivers' phones reach the centre at: "
            "set SEAT_PUBLIC_URL (or give `seat lanes sticker` --base-url), "
            "e.g. https://seat.example.com",
        )
    return base


def help_url(base: str, token: str) -> str:
    return f"{base}{HELP_PATH}{token}"


def sticker_filename(lane_id: str, fmt: StickerFormat) -> str:
    """The file's name, for the CLI's default and the console's download alike."""
    return f"sticker-{lane_id}.{fmt.value}"


async def sticker_key(store: Store, settings: Settings) -> bytes:
    """``SEAT_STICKER_KEY`` if set, else the store's, made now if there is none."""
    if settings.sticker_key is not None:
        return settings.sticker_key
    stored = await store.get_sticker_key()
    if stored is not None:
        return stored
    return await store.add_sticker_key(secrets.token_bytes(KEY_BYTES))


async def issue_sticker(
    store: Store, key: bytes, lane_id: str, base: str, *, revoked_by: Issuer | None = None
) -> Sticker:
    """The lane's current sticker; with ``revoked_by``, a new one that replaces every
    sticker printed before, audited as theirs. ``NotFound`` for an unknown lane, with
    nothing changed."""
    lane = await store.get_lane(lane_id)
    if lane is None:
        raise NotFound("unknown_lane", f"no lane {lane_id!r}")
    serial = (
        await store.bump_sticker_serial(lane_id)
        if revoked_by is not None
        else await store.sticker_serial(lane_id)
    )
    if serial is None:
        raise NotFound("unknown_lane", f"no lane {lane_id!r}")
    if revoked_by is not None:
        await revoked_by.record(
            AuditRecord(
                actor=revoked_by.actor,
                action=AuditAction.STICKER_REVOKED,
                lane=lane_id,
                detail={"serial": serial},
            )
        )
    token = make_token(key, StickerClaim(lane_id, serial))
    return Sticker(help_url(base, token), lane_id, lane.name, lane.car_park, serial)


async def print_sticker(
    store: Store,
    settings: Settings,
    lane_id: str,
    fmt: StickerFormat,
    issuer: Issuer,
    *,
    base_url: str | None = None,
    revoke: bool = False,
) -> PrintedSticker:
    """The lane's sticker as a file (for ``seat lanes sticker``, and for a supervisor's
    download from the console). What can be found wanting (the public URL, a font, the
    lane) is checked before anything is revoked. Every file made is in the ledger
    (``sticker_issued``) before it is handed over: no entry, no sticker."""
    base = public_base(settings, base_url)
    font = await asyncio.to_thread(find_cjk_font)
    key = await sticker_key(store, settings)
    revoked_by = issuer if revoke else None
    sticker = await issue_sticker(store, key, lane_id, base, revoked_by=revoked_by)
    data = await asyncio.to_thread(render_sticker, sticker, fmt, font)
    try:
        await issuer.record(
            AuditRecord(
                actor=issuer.actor,
                action=AuditAction.STICKER_ISSUED,
                lane=lane_id,
                detail={
                    "serial": sticker.serial,
                    "format": fmt.value,
                    "base_url": base,
                    **issuer.context,
                },
            )
        )
    except StoreError as exc:
        raise StoreError(
            "audit_failed", f"no sticker: the audit ledger could not record it ({exc.detail})"
        ) from exc
    log.info(
        "stickers.issued lane=%s serial=%d format=%s actor=%s",
        lane_id,
        sticker.serial,
        fmt.value,
        issuer.actor,
    )
    return PrintedSticker(sticker, data)


async def check_sticker(serials: SerialSource, key: bytes, token: str) -> StickerClaim:
    """The lane a scanned token stands for, if it is that lane's current sticker;
    ``StickerRefused`` (naming why) otherwise."""
    claim = read_token(key, token)
    admit(claim, await serials.sticker_serial(claim.lane_id))
    return claim
