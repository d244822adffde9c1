"""What servers say to each other, read strictly, whom news is for, and how often the
change feed is read: pure, no Redis."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

import pytest

from console.audience import SUPERVISORS, Audience, covering
from console.cluster.envelope import MAX_BYTES, EnvelopeError, open_envelope, seal
from console.models import Role, User
from console.settings import Settings

KINDS = frozenset({"news"})


def test_a_sealed_message_opens_as_it_was_sent() -> None:
    envelope = open_envelope(seal("a-1", "news", {"key": "order 7", "n": 1}), KINDS)
    assert (envelope.sender, envelope.kind, envelope.body) == (
        "a-1",
        "news",
        {"key": "order 7", "n": 1},
    )
    assert envelope.text("key") == "order 7" and envelope.optional_text("none") is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b"\x00garbage", "not JSON"),
        (b"[]", "not a JSON object"),
        (b'{"from": "a", "kind": "news"}', "version None"),
        (b'{"v": 2, "from": "a", "kind": "news"}', "version 2"),
        (b'{"v": 1, "from": "", "kind": "news"}', "no sender"),
        (b'{"v": 1, "from": "a", "kind": ["news"]}', "none of"),
        (b'{"v": 1, "from": "a", "kind": "gossip"}', "none of"),
        (b" " * (MAX_BYTES + 1), "bytes"),
    ],
)
def test_what_cannot_be_read_is_refused_saying_why(data: bytes, why: str) -> None:
    with pytest.raises(EnvelopeError, match=why):
        open_envelope(data, KINDS)


def test_a_field_of_the_wrong_type_is_refused() -> None:
    envelope = open_envelope(seal("a", "news", {"key": 7, "message": []}), KINDS)
    reads: list[Callable[[], object]] = [
        lambda: envelope.text("key"),
        lambda: envelope.optional_text("key"),
    ]
    for read in reads:
        with pytest.raises(EnvelopeError, match="key"):
            read()
    with pytest.raises(EnvelopeError, match="message"):
        envelope.obj("message")


def user(role: Role, coverage: tuple[str, ...] | None = None) -> User:
    return User("u", role, "", datetime(2026, 1, 1, tzinfo=UTC), coverage=coverage)


def test_an_audience_picks_by_coverage_and_role_and_travels_as_json() -> None:
    park = covering("人民路停车场")
    assert park.includes(user(Role.AGENT)) and park.includes(user(Role.AGENT, ("人民路停车场",)))
    assert not park.includes(user(Role.AGENT, ("解放路停车场",)))
    assert park.includes(user(Role.SUPERVISOR, ("解放路停车场",)))  # supervisors see all
    assert not SUPERVISORS.includes(user(Role.AGENT)) and SUPERVISORS.includes(user(Role.ADMIN))
    for audience in (park, SUPERVISORS):
        assert Audience.from_json(audience.to_json()) == audience


@pytest.mark.parametrize(
    "value",
    [
        None,
        {"car_park": None},
        {"car_park": None, "role": "king"},
        {"car_park": 7, "role": "agent"},
        {"car_park": None, "role": "agent", "users": ["x"]},
    ],
)
def test_an_audience_that_is_not_one_is_refused(value: object) -> None:
    with pytest.raises(ValueError, match="audience"):
        Audience.from_json(value)


@pytest.mark.parametrize("raw", ["0", "-1", "soon", "inf"])
def test_a_change_poll_that_is_not_a_time_stops_the_start(raw: str) -> None:
    with pytest.raises(ValueError, match="SEAT_CHANGE_POLL_S"):
        Settings.from_env({"SEAT_CHANGE_POLL_S": raw})


def test_the_change_feed_is_read_every_second_unless_told() -> None:
    assert Settings.from_env({}).change_poll_s == 1.0
    assert Settings.from_env({"SEAT_CHANGE_POLL_S": "5"}).change_poll_s == 5.0
