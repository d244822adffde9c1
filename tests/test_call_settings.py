"""The call queue's settings as an operator writes them: read once at start, and a
value that makes no sense stops the start with the variable named."""

from __future__ import annotations

import pytest

from console.calls.model import CallKind
from console.settings import Settings


def test_the_call_settings_default_to_the_documented_values() -> None:
    """15 s rings, 30 s wrap-up, 300 s before a lane call is abandoned, 30 s of grace;
    exit lanes first, the hotline last."""
    settings = Settings.from_env({})
    calls = settings.calls
    assert settings.call_presence_s == 10  # with Redis: a dead server's tabs count 10 s
    assert Settings.from_env({"SEAT_CALL_PRESENCE_S": "2.5"}).call_presence_s == 2.5
    assert (calls.ring_s, calls.wrap_s, calls.abandon_s, calls.reconnect_s) == (15, 30, 300, 30)
    assert sorted(calls.priorities, key=calls.priorities.__getitem__, reverse=True) == [
        CallKind.EXIT_LANE,
        CallKind.ENTRY_LANE,
        CallKind.PHONE,
        CallKind.HOTLINE,
    ]


def test_the_priority_list_ranks_the_kinds_first_answered_first() -> None:
    """Spaces around the names are allowed; the first named is answered first."""
    env = {"SEAT_CALL_PRIORITY": "phone, exit,entry ,hotline", "SEAT_CALL_WRAP_S": "0"}
    calls = Settings.from_env(env).calls
    assert calls.priorities[CallKind.PHONE] > calls.priorities[CallKind.EXIT_LANE]
    assert calls.priorities[CallKind.ENTRY_LANE] > calls.priorities[CallKind.HOTLINE]
    assert calls.wrap_s == 0


@pytest.mark.parametrize(
    ("env", "message"),
    [
        ({"SEAT_CALL_RING_S": "0"}, "SEAT_CALL_RING_S must be a number of seconds, more than 0"),
        ({"SEAT_CALL_RING_S": "soon"}, "SEAT_CALL_RING_S must be a number, not 'soon'"),
        ({"SEAT_CALL_ABANDON_S": "inf"}, "SEAT_CALL_ABANDON_S must be a number of seconds"),
        ({"SEAT_CALL_ABANDON_S": "nan"}, "SEAT_CALL_ABANDON_S must be a number of seconds"),
        ({"SEAT_CALL_WRAP_S": "-1"}, "SEAT_CALL_WRAP_S must be a number of seconds, 0 or more"),
        ({"SEAT_CALL_RECONNECT_S": "-5"}, "SEAT_CALL_RECONNECT_S must be a number of seconds"),
        ({"SEAT_CALL_PRESENCE_S": "0"}, "SEAT_CALL_PRESENCE_S must be a number of seconds"),
        ({"SEAT_CALL_PRIORITY": "exit,entry"}, "SEAT_CALL_PRIORITY must name each of"),
        ({"SEAT_CALL_PRIORITY": "exit,exit,phone,hotline"}, "SEAT_CALL_PRIORITY must name each"),
        ({"SEAT_CALL_PRIORITY": "exit,entry,phone,bus"}, "SEAT_CALL_PRIORITY: 'bus' is not one"),
    ],
)
def test_a_bad_call_setting_is_named(env: dict[str, str], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        Settings.from_env(env)
