"""The no-plate codes, the phone's cookie, the temporary identity and the page rules,
with literals and no sockets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from console.noplate.codes import (
    MAX_TOKEN,
    LaneCode,
    Phone,
    code_key,
    is_temporary,
    make_code,
    make_phone,
    phone_key,
    read_code,
    read_phone,
    temporary_identity,
)
from console.noplate.errors import CodeExpired, CodeRefused, NoStay, StayRefused
from console.noplate.model import NoPlateStay
from console.noplate.rules import (
    ExitWay,
    Page,
    Showings,
    check_entry,
    check_exit,
    exit_way,
    page_for,
)
from console.settings import Settings
from console.signing import seal
from console.stays.records import StayState, stay_key
from gates.plates import check
from gates.vocabulary import Direction

KEY = code_key(b"k" * 32)
PHONES = phone_key(b"k" * 32)
NOW = datetime(2026, 11, 29, 3, 0, 0, tzinfo=UTC)
LIFE = timedelta(seconds=180)
CODE = LaneCode("P1-IN", NOW, "0123456789abcdef")


def test_a_code_reads_back_as_its_lane_time_and_nonce() -> None:
    """What the centre signed is what it reads."""
    assert read_code(KEY, make_code(KEY, CODE), NOW + LIFE, LIFE) == CODE


def test_a_code_past_its_lifetime_is_expired() -> None:
    """A photo of the display is no use once the code's lifetime is over."""
    with pytest.raises(CodeExpired) as caught:
        read_code(KEY, make_code(KEY, CODE), NOW + LIFE + timedelta(seconds=1), LIFE)
    assert caught.value.code == "noplate_code_expired"


def test_a_code_from_the_future_is_refused() -> None:
    """A code stamped ahead of the centre's clock is not one it made."""
    with pytest.raises(CodeRefused) as caught:
        read_code(KEY, make_code(KEY, CODE), NOW - timedelta(minutes=1), LIFE)
    assert caught.value.code == "noplate_code_forged"


@pytest.mark.parametrize(
    "token",
    [
        "",
        ".",
        "garbage",
        "A" * (MAX_TOKEN + 1),
        "码.码",
        seal(KEY, b"np1:1764385200:0123456789abcdef"),  # no lane
        seal(KEY, b"np1:0:0123456789abcdef:P1-IN"),  # a time with a leading zero
        seal(KEY, b"np1:1764385200:0123456789ABCDEF:P1-IN"),  # upper-case nonce
        seal(KEY, b"np2:1764385200:0123456789abcdef:P1-IN"),  # unknown version
        seal(KEY, b"np1:1764385200:0123456789abcdef:bad lane"),
        seal(KEY, b"pay1:" + b"0" * 32),  # a pay link's payload
        seal(KEY, "np1:1764385200:0123456789abcdef:车道".encode()),
    ],
)
def test_anything_but_a_code_is_malformed(token: str) -> None:
    with pytest.raises(CodeRefused) as caught:
        read_code(KEY, token, NOW, LIFE)
    assert caught.value.code == "noplate_code_malformed"


def test_a_code_with_a_changed_character_or_another_key_is_forged() -> None:
    """Tampering with the payload, or signing with a key this centre does not hold."""
    token = make_code(KEY, CODE)
    tag = token.split(".")[1]
    other = make_code(code_key(b"x" * 32), CODE)
    altered = seal(b"x" * 32, b"np1:1764385200:0123456789abcdef:P2-IN").split(".")[0]
    for forged in (other, f"{altered}.{tag}"):
        with pytest.raises(CodeRefused) as caught:
            read_code(KEY, forged, NOW, LIFE)
        assert caught.value.code == "noplate_code_forged"


def test_a_sticker_key_gives_different_keys_for_codes_and_phones() -> None:
    """A phone's cookie never passes for a lane code, nor the reverse."""
    assert KEY != PHONES
    cookie = make_phone(KEY, Phone("a" * 32, NOW))
    with pytest.raises(CodeRefused):
        read_code(KEY, cookie, NOW, LIFE)


def test_a_phone_cookie_reads_back_within_its_lifetime_only() -> None:
    phone = Phone("0f" * 16, NOW)
    cookie = make_phone(PHONES, phone)
    days = timedelta(days=30)
    assert read_phone(PHONES, cookie, NOW + days, days) == phone
    assert read_phone(PHONES, cookie, NOW + days + timedelta(seconds=1), days) is None
    assert read_phone(KEY, cookie, NOW, days) is None  # another key
    middle = len(cookie) - 10  # a character of the tag, not its last
    tampered = cookie[:middle] + ("A" if cookie[middle] != "A" else "B") + cookie[middle + 1 :]
    assert read_phone(PHONES, tampered, NOW, days) is None
    assert read_phone(PHONES, "nonsense", NOW, days) is None
    assert read_phone(PHONES, seal(PHONES, b"phone1:xyz:1764385200"), NOW, days) is None


def test_the_temporary_identity_is_never_a_plate_and_keeps_its_spelling() -> None:
    """ "无牌" is no province (GA 36-2018): the identity can never be a real car's plate,
    and the stays keep it as it is spelt."""
    identity = temporary_identity("0123456789abcdef")
    assert identity == "无牌0123456789"
    assert is_temporary(identity) and not is_temporary("粤B12345")
    assert not check(identity).valid
    assert stay_key(identity) == identity
    with pytest.raises(ValueError):
        temporary_identity("not hex")


def stay(car_park: str = "P1") -> NoPlateStay:
    return NoPlateStay(
        7, car_park, "无牌ABC", "无牌ABC", StayState.OPEN, "P1-IN", "e", NOW, None, "p"
    )


def test_the_page_follows_the_lane_and_what_the_phone_holds() -> None:
    assert page_for(Direction.ENTRY, None) is Page.ENTER
    assert page_for(Direction.ENTRY, stay()) is Page.HELD
    assert page_for(Direction.EXIT, None) is Page.NO_STAY
    assert page_for(Direction.EXIT, stay()) is Page.LEAVE


def test_an_entry_code_does_not_leave_and_an_exit_code_does_not_enter() -> None:
    with pytest.raises(StayRefused) as caught:
        check_entry(Direction.EXIT)
    assert caught.value.code == "wrong_direction"
    with pytest.raises(StayRefused) as caught:
        check_exit(Direction.ENTRY, stay())
    assert caught.value.code == "wrong_direction"
    with pytest.raises(NoStay):
        check_exit(Direction.EXIT, None)
    assert check_exit(Direction.EXIT, stay()) == stay()


def test_a_fee_of_nothing_leaves_free_and_any_other_pays() -> None:
    assert exit_way(0) is ExitWay.FREE
    assert exit_way(1) is ExitWay.PAY
    with pytest.raises(ValueError):
        exit_way(-1)


def test_the_settings_read_the_codes_and_phones_lifetimes() -> None:
    """Defaults, the variables, and a bad value named."""
    defaults = Settings.from_env({})
    assert (defaults.noplate_code_s, defaults.noplate_phone_days) == (180.0, 30)
    set_ = Settings.from_env({"SEAT_NOPLATE_CODE_S": "60", "SEAT_NOPLATE_PHONE_DAYS": "7"})
    assert (set_.noplate_code_s, set_.noplate_phone_days) == (60.0, 7)
    for name, bad in (
        ("SEAT_NOPLATE_CODE_S", "0"),
        ("SEAT_NOPLATE_PHONE_DAYS", "0"),
        ("SEAT_NOPLATE_CODE_S", "x"),
        ("SEAT_NOPLATE_PHONE_DAYS", "1.5"),
    ):
        with pytest.raises(ValueError, match=name):
            Settings.from_env({name: bad})


def test_a_lanes_code_goes_up_once_for_reads_of_one_waiting_car() -> None:
    """Reads within ``again_s`` of the last showing at a lane show nothing more; other
    lanes are their own."""
    showings = Showings(10.0)
    assert showings.due("P1-IN", 100.0)
    assert not showings.due("P1-IN", 100.5)
    assert not showings.due("P1-IN", 109.9)
    assert showings.due("P1-OUT", 105.0)
    assert showings.due("P1-IN", 110.0)
    assert not showings.due("P1-IN", 115.0)
