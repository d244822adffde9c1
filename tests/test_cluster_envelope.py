"""What servers say to each other, read strictly, whom news is for, and how often the
change feed is read: pure, no Redis."""

from __future__ import annotations

import json
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

import pytest

from console.audience import SUPERVISORS, Audience, covering
from console.cluster.envelope import (
    MAX_BYTES,
    MAX_DEPTH,
    Body,
    Envelope,
    EnvelopeError,
    Fields,
    open_as,
    open_envelope,
    seal,
)
from console.cluster.news_wire import KINDS as NEWS
from console.cluster.news_wire import Appended, Lost, News
from console.cluster.request_wire import Reply, Request
from console.cluster.status_wire import StatusReport
from console.cluster.told import Notice
from console.models import ChangeKind, Role, User
from console.settings import Settings
from gates.centre.status import ActiveFault, LaneStatus, LastVehicle
from gates.protocol import DeviceInfo, DisplaySize
from gates.vocabulary import GateState, PlateColour

AT = datetime(2026, 3, 1, 8, 30, 15, 250000, tzinfo=UTC)
STATUS = LaneStatus(
    "P1-OUT",
    online=True,
    gate=GateState.UP,
    last_vehicle=LastVehicle("粤B12345", PlateColour.BLUE, 0.97, AT, (10, 20, 120, 40)),
    last_call_at=AT,
    faults=(ActiveFault("camera", "no picture", AT), ActiveFault("loop", "", AT)),
    display=DisplaySize(4, 16),
    devices=(
        DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64"),
        DeviceInfo("led", "rs485", ("display",), "cam:rs485-1"),
    ),
)
EVERY_KIND: list[Body] = [
    News(covering("人民路停车场"), {"type": "plate_alert", "plate": "粤B12345"}, "alert 7"),
    News(SUPERVISORS, {"type": "order"}, None),
    Appended({"seq": 41, "action": "login", "detail": {"who": "sue"}}),
    Lost(),
    Notice(ChangeKind.SESSION, "9f86d081884c7d65"),
    Request("a1b2c3", "command", {"lane": "P1-OUT", "wait_s": 2.5}),
    Reply("a1b2c3", {"outcome": "done", "detail": ""}),
    Reply("a1b2c3", None, "intercom_busy", "alice has it", {"holder": "alice"}),
    StatusReport(STATUS),
    StatusReport(LaneStatus("P2-IN")),
]
ALL = (*NEWS, Notice, Request, Reply, StatusReport)
CAM = STATUS.devices[0].to_json()


def message(**members: Any) -> bytes:
    """A message as another program might send it: ``v``, ``kind``, ``from``, ``body``
    unless given."""
    whole = {"v": 1, "kind": "lost", "from": "s-1", "body": {}} | members
    return json.dumps(whole, ensure_ascii=False).encode()


@pytest.mark.parametrize("body", EVERY_KIND, ids=lambda body: type(body).__name__)
def test_every_kind_opens_as_it_was_sealed(body: Body) -> None:
    data = seal("host-1-a1b2c3", body)
    assert json.loads(data)["v"] == 1 and json.loads(data)["kind"] == body.KIND
    assert open_envelope(data, *ALL) == Envelope("host-1-a1b2c3", body)
    assert open_as(data, type(body)).body == body


def test_a_lane_status_from_a_server_before_devices_opens_with_none() -> None:
    """During an upgrade a server that reports no devices is read, not refused."""
    older = {k: v for k, v in StatusReport(STATUS).to_json().items() if k != "devices"}
    opened = open_as(message(kind="lane_status", body=older), StatusReport).body.status
    assert opened.devices == () and opened.display == STATUS.display


def test_a_lane_status_travels_without_its_snapshot() -> None:
    """Another server needs what its console shows, not the picture."""
    pictured = StatusReport(LaneStatus("P1-OUT", online=True, snapshot=b"\xff\xd8\xff" * 1000))
    data = seal("s-1", pictured)
    assert len(data) < 500
    assert open_as(data, StatusReport).body.status.snapshot is None


@pytest.mark.parametrize(
    ("data", "why"),
    [
        (b" " * (MAX_BYTES + 1), "bytes, more than"),
        (b"\xff\xfe", "not UTF-8"),
        (b"{", "not JSON"),
        (b'{"v": NaN}', "NaN is not JSON"),
        (b'{"v": 1, "v": 1}', "duplicate member"),
        (b"[]", "must be a JSON object"),
        (b"[" * 100_000, "nested too deeply"),
        (b'{"kind": "lost", "from": "s-1", "body": {}}', "version None, not 1"),
        (message(v=0), "version 0, not 1"),
        (message(v="1"), "version '1', not 1"),
        (message(to="s-2"), "members"),
        (message(**{"from": ""}), "no sender"),
        (message(**{"from": 7}), "no sender"),
        (message(**{"from": "s-1\nlane.lease.taken"}), "the sender holds the control"),
        (message(kind="weather"), "kind 'weather' is none of"),
        (message(kind=["lost"]), "kind \\['lost'\\] is none of"),
        (message(body=[]), "lost: the body is not an object"),
        (b'{"v": 1, "kind": "lost", "from": "s-\\ud800", "body": {}}', "surrogate"),
        (b'{"v": 1, "kind": "lost", "from": "s-1", "body": {"\\udfff": 1}}', "surrogate"),
        (b'{"v": 1, "kind": "lost", "from": "s-\xed\xa0\x80", "body": {}}', "not UTF-8"),
        (message(kind="change", body={"change": "user", "subject": "amy\u0000"}), "NUL"),
        (message(body={"x\u0000": 1}), "NUL"),
        (message(body={"x": [[[[[[[[[[[[[[[[[[1]]]]]]]]]]]]]]]]]]}), f"deeper than {MAX_DEPTH}"),
    ],
)
def test_what_cannot_be_read_is_refused_saying_why(data: bytes, why: str) -> None:
    with pytest.raises(EnvelopeError, match=why):
        open_envelope(data, *ALL)


def test_a_message_of_a_newer_version_is_refused_not_misread() -> None:
    """A later program may keep a kind's name and change what its body means: this one
    must not act on it as if it knew."""
    newer = message(v=2, kind="change", body={"change": "user", "subject": "amy"})
    with pytest.raises(EnvelopeError, match="version 2 is newer than this server's 1"):
        open_envelope(newer, Notice)


def test_a_kind_this_channel_does_not_carry_is_refused() -> None:
    data = seal("s-1", Request("r1", "let_go", {"lane": "P1-OUT"}))
    with pytest.raises(EnvelopeError, match="kind 'request' is none of \\['audit', 'lost'"):
        open_envelope(data, *NEWS)


@pytest.mark.parametrize(
    ("kind", "body", "why"),
    [
        (
            "news",
            {"audience": {"role": "king", "car_park": None}, "message": {"type": "x"}, "key": None},
            "audience",
        ),
        (
            "news",
            {"audience": SUPERVISORS.to_json(), "message": {"no": "type"}, "key": None},
            "news.message: no 'type'",
        ),
        (
            "news",
            {"audience": SUPERVISORS.to_json(), "message": {"type": "x"}, "key": 7},
            "'key' is not a string or null",
        ),
        ("news", {"audience": SUPERVISORS.to_json(), "message": {"type": "x"}}, "news: no 'key'"),
        ("audit", {"entry": {"seq": "7"}}, "audit.entry: 'seq' is not an integer"),
        ("audit", {"entry": {"seq": True}}, "'seq' is not an integer"),
        ("change", {"change": "weather", "subject": "amy"}, "'change' is not one of"),
        ("change", {"change": "user", "subject": ""}, "'subject' is not a non-empty string"),
        ("request", {"id": "r1", "op": "let go\n", "args": {}}, "'op' is not an id"),
        ("request", {"id": "r1", "op": "let_go", "args": ["P1"]}, "'args' is not an object"),
        (
            "reply",
            {"id": "r1", "answer": None, "code": "", "detail": "", "extra": {}},
            "either an answer or a code",
        ),
        (
            "reply",
            {"id": "r1", "answer": {}, "code": "failed", "detail": "", "extra": {}},
            "either an answer or a code",
        ),
        ("lane_status", StatusReport(STATUS).to_json() | {"lane": "../P1"}, "'lane' is not an id"),
        ("lane_status", StatusReport(STATUS).to_json() | {"online": 1}, "'online' is not true"),
        ("lane_status", StatusReport(STATUS).to_json() | {"gate": "ajar"}, "'gate' is not one"),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"last_call_at": "today"},
            "'last_call_at' is not an ISO 8601 time",
        ),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"last_call_at": "2026-03-01T08:00:00"},
            "with its UTC offset",
        ),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"faults": [{"code": "x"}]},
            "lane_status.faults\\[0\\]: no 'detail'",
        ),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"display": {"lines": 0, "chars": 9}},
            "lane_status.display: field 'display' must be",
        ),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"devices": [CAM | {"parts": [7]}]},
            "lane_status: field 'devices' entry 0: field 'parts' must list at most 16",
        ),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"devices": [CAM, CAM]},
            "lane_status: field 'devices' names the device 'cam' twice",
        ),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"devices": [CAM | {"at": "root:pw@10.0.0.5"}]},
            "lane_status: field 'devices' entry 0: field 'at' must not hold '@'",
        ),
        (
            "lane_status",
            StatusReport(STATUS).to_json() | {"devices": None},
            "lane_status: field 'devices' must be list",
        ),
        (
            "lane_status",
            {
                **StatusReport(STATUS).to_json(),
                "last_vehicle": {
                    "plate": "A",
                    "plate_colour": "blue",
                    "confidence": "high",
                    "at": "2026-03-01T08:00Z",
                    "box": [1, 2, 3, 4],
                },
            },
            "'confidence' is not a finite number",
        ),
        (
            "lane_status",
            {
                **StatusReport(STATUS).to_json(),
                "last_vehicle": {
                    "plate": "A",
                    "plate_colour": "blue",
                    "confidence": 1,
                    "at": "2026-03-01T08:00Z",
                    "box": [1, 2, 3],
                },
            },
            "'box' is not four integers",
        ),
    ],
)
def test_a_body_missing_a_member_or_holding_one_of_the_wrong_type_is_refused(
    kind: str, body: dict[str, Any], why: str
) -> None:
    with pytest.raises(EnvelopeError, match=why):
        open_envelope(message(kind=kind, body=body), *ALL)


def test_every_field_reader_names_the_kind_and_the_member() -> None:
    fields = Fields("k", {"n": "1", "s": 1, "o": [], "l": {}, "f": 0, "t": 5})
    reads: list[Callable[[], object]] = [
        lambda: fields.integer("n"),
        lambda: fields.number("o"),
        lambda: fields.text("s"),
        lambda: fields.optional_text("s"),
        lambda: fields.obj("o"),
        lambda: fields.items("l"),
        lambda: fields.flag("f"),
        lambda: fields.time("t"),
        lambda: fields.each("l"),
        lambda: fields.ident("missing"),
    ]
    for read in reads:
        with pytest.raises(EnvelopeError, match=r"^k: "):
            read()
    assert Fields("k", {"x": None}).optional_obj("x") is None
    assert Fields("k", {"x": None}).optional_time("x") is None
    assert Fields("k", {"x": 3}).number("x") == 3.0


@pytest.mark.parametrize("number", [b"1e400", b"-1e400", b"1" + b"0" * 400, b"true", b'"1"'])
def test_a_number_out_of_range_or_of_another_type_is_refused(number: bytes) -> None:
    """JSON's 1e400 reads as infinity, a 401-digit integer as no float at all."""
    with pytest.raises(EnvelopeError, match="'wait_s' is not a finite number"):
        Fields("command", {"wait_s": json.loads(number)}).number("wait_s")


def test_a_body_no_server_would_read_is_not_sealed() -> None:
    with pytest.raises(EnvelopeError, match=r"reply: .* bytes, more than"):
        seal("s-1", Reply("r1", {"jpeg": "A" * MAX_BYTES}))
    with pytest.raises(EnvelopeError, match="request: Out of range float"):
        seal("s-1", Request("r1", "command", {"wait_s": float("inf")}))


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
