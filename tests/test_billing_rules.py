"""A car park's billing rules as data: what an operator writes is read back exactly, and
anything the fee could misread is refused naming where it is."""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import pytest

from console.billing.errors import BadRules
from console.billing.rules import CapWindow, FirstPeriod, Rules


def band(name: str, start: str, end: str, **more: Any) -> dict[str, Any]:
    return {"name": name, "start": start, "end": end, "period_minutes": 30,
            "fen_per_period": 100, **more}  # fmt: skip


def rules(**more: Any) -> dict[str, Any]:
    return {"bands": [band("day", "08:00", "20:00"), band("night", "20:00", "08:00")], **more}


def refusal(document: object) -> BadRules:
    with pytest.raises(BadRules) as caught:
        Rules.parse(document)
    return caught.value


def test_rules_read_back_what_they_write() -> None:
    """Every option survives ``to_json`` and ``parse``, through JSON text."""
    day = band("白天", "08:00", "20:00", first_period={"minutes": 60, "fen": 500})
    night = band("夜间", "20:00", "08:00", cap_fen=1000)
    written = {
        "free_minutes": 15,
        "free_minutes_deducted": True,
        "bands": [day, night],
        "daily_cap_fen": 3000,
        "daily_cap_window": "rolling_24h",
        "stay_cap_fen": 50_000,
    }
    parsed = Rules.parse(written)
    assert parsed.daily_cap_window is CapWindow.ROLLING_24H
    assert parsed.bands[0].first_period is not None
    assert parsed.bands[1].cap_fen == 1000
    assert Rules.parse(json.loads(json.dumps(parsed.to_json()))) == parsed
    assert parsed.to_json() == {
        **written,
        "bands": [
            {**day, "cap_fen": None},
            {**night, "first_period": None},
        ],
    }


def test_left_out_options_take_their_defaults() -> None:
    """No free minutes, kept if any, no caps, days by the calendar."""
    parsed = Rules.parse(rules())
    assert (parsed.free_minutes, parsed.free_minutes_deducted) == (0, False)
    assert (parsed.daily_cap_fen, parsed.stay_cap_fen) == (None, None)
    assert parsed.daily_cap_window is CapWindow.CALENDAR_DAY
    assert Rules.parse(rules(daily_cap_fen=None)) == parsed


@pytest.mark.parametrize(
    ("document", "code", "where"),
    [
        ([], "bad_type", "the document must be a JSON object"),
        (rules(daily_cap=3000), "unknown_key", "daily_cap is not a known key"),
        (
            {"bands": [band("day", "08:00", "20:00", cap_fenn=1), band("n", "20:00", "08:00")]},
            "unknown_key",
            "bands[0].cap_fenn",
        ),
        ({}, "missing_key", "bands is required"),
        ({"bands": {}}, "bad_type", "bands must be a JSON array"),
        (rules(free_minutes="15"), "bad_minutes", "free_minutes must be a whole number"),
        (rules(free_minutes=15.0), "bad_minutes", "free_minutes"),
        (rules(free_minutes=-1), "bad_minutes", "free_minutes"),
        (rules(free_minutes=1441), "bad_minutes", "free_minutes"),
        (rules(free_minutes_deducted=1), "bad_type", "free_minutes_deducted must be true or"),
        (rules(daily_cap_fen=-100), "bad_amount", "daily_cap_fen must be a whole number"),
        (rules(daily_cap_fen=True), "bad_amount", "daily_cap_fen"),
        (rules(stay_cap_fen=10_000_001), "bad_amount", "stay_cap_fen"),
        (rules(daily_cap_window="weekly"), "bad_type", "calendar_day, rolling_24h"),
        (rules(daily_cap_window=["calendar_day"]), "bad_type", "daily_cap_window"),
        (
            {
                "bands": [
                    band("day", "08:00", "20:00", fen_per_period=-1),
                    band("n", "20:00", "08:00"),
                ]
            },
            "bad_amount",
            "bands[0].fen_per_period",
        ),
        (
            {
                "bands": [
                    band("day", "08:00", "20:00"),
                    band("n", "20:00", "08:00", period_minutes=0),
                ]
            },
            "bad_minutes",
            "bands[1].period_minutes",
        ),
        (
            {
                "bands": [
                    band("day", "08:00", "20:00", first_period={"minutes": 60}),
                    band("n", "20:00", "08:00"),
                ]
            },
            "missing_key",
            "bands[0].first_period.fen is required",
        ),
        (
            {"bands": [band("day", "8:00", "20:00"), band("n", "20:00", "08:00")]},
            "bad_time",
            "bands[0].start must be a time HH:MM",
        ),
        (
            {"bands": [band("day", "08:00", "24:00"), band("n", "20:00", "08:00")]},
            "bad_time",
            "bands[0].end",
        ),
        (
            {"bands": [band(" day", "08:00", "20:00"), band("n", "20:00", "08:00")]},
            "bad_name",
            "bands[0].name",
        ),
        (
            {"bands": [band("day\n", "08:00", "20:00"), band("n", "20:00", "08:00")]},
            "bad_name",
            "bands[0].name",
        ),
        (
            {"bands": [band("day", "08:00", "20:00"), band("day", "20:00", "08:00")]},
            "bad_name",
            "two bands are named 'day'",
        ),
        ({"bands": []}, "bands_gap", "at least one"),
        (
            {"bands": [band("day", "07:00", "20:00"), band("night", "20:00", "08:00")]},
            "bands_overlap",
            "bands 'day' (07:00–20:00) and 'night' (20:00–08:00) both cover 07:00",
        ),
        (
            {"bands": [band("day", "08:00", "20:00"), band("night", "20:00", "07:00")]},
            "bands_gap",
            "no band covers 07:00–08:00",
        ),
        (
            {"bands": [band("all", "00:00", "00:00"), band("night", "20:00", "08:00")]},
            "bands_overlap",
            "both cover 20:00",
        ),
    ],
)
def test_bad_rules_are_refused_naming_the_field(document: object, code: str, where: str) -> None:
    """Unknown keys, wrong types, negative amounts and bands that overlap or leave a
    gap are refused with the rule broken and its place, never read as something else."""
    error = refusal(document)
    assert error.code == code
    assert where in error.detail
    assert error.status == 400


def test_rules_built_in_code_must_tile_the_day_too() -> None:
    """The bands' tiling is the type's own rule, not only the parser's."""
    day = Rules.parse(rules()).bands[0]
    with pytest.raises(BadRules) as caught:
        Rules(bands=(day,))
    assert caught.value.code == "bands_gap"
    assert "no band covers 20:00–08:00" in caught.value.detail


@pytest.mark.parametrize(
    ("change", "code", "detail"),
    [
        ({"period_minutes": 0}, "bad_minutes", "band 'day''s period_minutes must be from 1"),
        ({"fen_per_period": -1}, "bad_amount", "band 'day''s fen_per_period must be 0 fen"),
        ({"cap_fen": -1}, "bad_amount", "band 'day''s cap_fen"),
        ({"first_period": FirstPeriod(0, 100)}, "bad_minutes", "band 'day''s first period"),
    ],
)
def test_rules_built_in_code_keep_the_parsers_limits(
    change: dict[str, Any], code: str, detail: str
) -> None:
    """A period of no time (which no fee could be counted in) or a negative price is
    refused however the rules are built."""
    day, night = Rules.parse(rules()).bands
    with pytest.raises(BadRules) as caught:
        Rules(bands=(replace(day, **change), night))
    assert caught.value.code == code
    assert detail in caught.value.detail
    with pytest.raises(BadRules):
        Rules(bands=(day, night), stay_cap_fen=-1)


def test_band_at_reads_the_clock() -> None:
    """A band holds its start minute and not its end minute; a night band wraps."""
    parsed = Rules.parse(rules())
    names = {minute: parsed.band_at(minute).name for minute in (0, 479, 480, 1199, 1200, 1439)}
    assert names == {0: "night", 479: "night", 480: "day", 1199: "day", 1200: "night",
                     1439: "night"}  # fmt: skip
