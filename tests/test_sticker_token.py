"""The help sticker's token, with literal keys and tokens and no I/O: what it proves,
and every way a scanned string that is not a genuine current token is refused."""

from __future__ import annotations

import base64
import hmac

import pytest

from console.sticker_token import (
    Refusal,
    StickerClaim,
    StickerRefused,
    admit,
    key_id,
    make_token,
    read_token,
)

KEY = bytes(range(32))
OTHER_KEY = bytes(range(1, 33))
# Lane P1-OUT, sticker 1, signed with KEY: the format, pinned.
TOKEN = "MToyN2RhMThjZjoxOlAxLU9VVA.pV7UpFOG3TG71T32JvlLBv4fVZzu5ERuVGiMIByh0m0"
PAYLOAD, TAG = TOKEN.split(".")


def b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def signed(payload: str, key: bytes = KEY) -> str:
    """A token for any payload, correctly signed: what only the key holder can make."""
    raw = payload.encode()
    return f"{b64(raw)}.{b64(hmac.digest(key, raw, 'sha256'))}"


def refusal(token: str, key: bytes = KEY) -> Refusal:
    with pytest.raises(StickerRefused) as refused:
        read_token(key, token)
    assert refused.value.code == refused.value.reason.value
    return refused.value.reason


def test_a_token_is_the_signed_lane_serial_and_key_id() -> None:
    """The payload reads 1:key id:serial:lane, and the token proves that claim."""
    assert make_token(KEY, StickerClaim("P1-OUT", 1)) == TOKEN
    assert base64.urlsafe_b64decode(PAYLOAD + "==") == f"1:{key_id(KEY)}:1:P1-OUT".encode()
    assert read_token(KEY, TOKEN) == StickerClaim("P1-OUT", 1)


def test_lane_ids_with_colons_and_large_serials_round_trip() -> None:
    """The lane id is last, so the ':' a lane id may hold does not confuse the fields."""
    claim = StickerClaim("park:7.exit-2", 10**18 - 1)
    assert read_token(KEY, make_token(KEY, claim)) == claim


def test_the_token_fits_a_url_path_and_the_length_limit() -> None:
    """The longest claim's token is plain URL-path characters, within the limit."""
    token = make_token(KEY, StickerClaim("A" * 64, 10**18 - 1))
    assert len(token) <= 256
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


@pytest.mark.parametrize(
    ("token", "reason"),
    [
        # someone else's sticker, or this one altered
        (make_token(OTHER_KEY, StickerClaim("P1-OUT", 1)), Refusal.OTHER_KEY),
        (f"{b64(f'1:{key_id(KEY)}:1:P2-OUT'.encode())}.{TAG}", Refusal.FORGED),
        (f"{b64(f'1:{key_id(KEY)}:2:P1-OUT'.encode())}.{TAG}", Refusal.FORGED),
        (f"{b64(b'1:00000000:1:P1-OUT')}.{TAG}", Refusal.OTHER_KEY),
        (f"{PAYLOAD}.{TAG[:-2]}x{TAG[-1]}", Refusal.FORGED),
        (f"{PAYLOAD}.{b64(bytes(32))}", Refusal.FORGED),
        (f"{PAYLOAD}.{TAG[:-1]}1", Refusal.MALFORMED),  # same bytes, other unused bits
        (f"{PAYLOAD}.{TAG}=", Refusal.MALFORMED),
        (f"{PAYLOAD}={TAG}", Refusal.MALFORMED),
        # cut short
        (f"{PAYLOAD}.{TAG[:-1]}", Refusal.MALFORMED),
        (f"{PAYLOAD}.{TAG[:40]}", Refusal.FORGED),  # still canonical base64: a 30-byte tag
        (f"{PAYLOAD}.", Refusal.MALFORMED),
        (PAYLOAD, Refusal.MALFORMED),
        (TOKEN[:10], Refusal.MALFORMED),
        ("", Refusal.MALFORMED),
        (".", Refusal.MALFORMED),
        # garbage
        ("hello", Refusal.MALFORMED),
        ("../../etc/passwd", Refusal.MALFORMED),
        ("%2e%2e.%00", Refusal.MALFORMED),
        (f" {TOKEN}", Refusal.MALFORMED),
        (f"{TOKEN}\n", Refusal.MALFORMED),
        (f"{TOKEN}.{TAG}", Refusal.MALFORMED),
        (b64(bytes([0xFF, 0xFE])) + "." + TAG, Refusal.MALFORMED),
        (f"{b64(b'no fields here')}.{TAG}", Refusal.MALFORMED),
        # too long
        ("A" * 10_000, Refusal.MALFORMED),
        (TOKEN + "A" * 10_000, Refusal.MALFORMED),
        ("令" * 10_000, Refusal.MALFORMED),
        # not ASCII
        ("令牌", Refusal.MALFORMED),
        (TOKEN[:-1] + "é", Refusal.MALFORMED),
        (TOKEN.replace("A", "Ａ"), Refusal.MALFORMED),  # a full-width A
        ("\ud800", Refusal.MALFORMED),
        (TOKEN + "\udfff", Refusal.MALFORMED),
        (f"{PAYLOAD}.\ud83d{TAG}", Refusal.MALFORMED),
        # signed, yet not a token this centre makes: strict even behind a good tag
        (signed(f"2:{key_id(KEY)}:1:P1-OUT"), Refusal.MALFORMED),
        (signed(f"1:{key_id(KEY)}:01:P1-OUT"), Refusal.MALFORMED),
        (signed(f"1:{key_id(KEY)}:0:P1-OUT"), Refusal.MALFORMED),
        (signed(f"1:{key_id(KEY)}:+1:P1-OUT"), Refusal.MALFORMED),
        (signed(f"1:{key_id(KEY)}:1:../P1"), Refusal.MALFORMED),
        (signed(f"1:{key_id(KEY).upper()}:1:P1-OUT"), Refusal.MALFORMED),
        (signed(f"1:{key_id(KEY)}:1"), Refusal.MALFORMED),
    ],
)
def test_a_token_not_made_by_this_centre_is_refused_with_its_reason(
    token: str, reason: Refusal
) -> None:
    """Forged, altered, cut, foreign, oversized or undecodable: refused, and why."""
    assert refusal(token) is reason


def test_the_right_token_under_the_wrong_key_is_refused() -> None:
    """A centre with another key (another database) does not honour this one's stickers."""
    assert refusal(TOKEN, OTHER_KEY) is Refusal.OTHER_KEY


def test_every_one_character_change_is_refused() -> None:
    """Whatever character is changed, wherever, the altered token is not admitted."""
    for at, original in enumerate(TOKEN):
        for replacement in "A0_-.xZ=":
            if replacement != original:
                with pytest.raises(StickerRefused):
                    read_token(KEY, TOKEN[:at] + replacement + TOKEN[at + 1 :])


def test_only_the_lanes_current_serial_is_admitted() -> None:
    """An earlier sticker is revoked; a later one (a restored database) is refused too."""
    claim = StickerClaim("P1-OUT", 2)
    admit(claim, 2)
    for current in (3, 1):
        with pytest.raises(StickerRefused) as refused:
            admit(claim, current)
        assert refused.value.reason is Refusal.REVOKED


def test_a_sticker_for_a_lane_that_is_gone_is_refused() -> None:
    """No lane, no help page."""
    with pytest.raises(StickerRefused) as refused:
        admit(StickerClaim("P1-OUT", 1), None)
    assert refused.value.reason is Refusal.UNKNOWN_LANE


@pytest.mark.parametrize(
    ("key", "claim"),
    [
        (bytes(31), StickerClaim("P1-OUT", 1)),
        (KEY, StickerClaim("../P1", 1)),
        (KEY, StickerClaim("P1-OUT", 0)),
        (KEY, StickerClaim("P1-OUT", 10**18)),
    ],
)
def test_making_a_token_from_bad_parts_is_a_bug_caught_at_once(
    key: bytes, claim: StickerClaim
) -> None:
    """A short key, an impossible lane id or serial never reach a printed sticker."""
    with pytest.raises(ValueError):
        make_token(key, claim)
