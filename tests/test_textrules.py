"""The text rules every JSON document and text field from outside passes: pure, no I/O."""

from __future__ import annotations

import io
import logging

import pytest

from console.logs import configure
from console.web import encode_json
from gates.textrules import TextError, check_text, escape_controls, loads, parse_count, visible


@pytest.mark.parametrize(
    ("raw", "words"),
    [
        ('{"plate":"\\ud800"}', "surrogate"),
        ('{"plate":"\\udfff x"}', "surrogate"),
        ('{"\\ud800":1}', "surrogate"),
        ('["ok", ["\\ud83d"]]', "surrogate"),
        ('{"plate":"\ud800"}', "surrogate"),
        (b'{"plate":"\xed\xa0\x80"}', "UTF-8"),
        (b'{"plate":"\xff"}', "UTF-8"),
        ('{"confidence":NaN}', "NaN"),
        ('{"confidence":-Infinity}', "Infinity"),
        ('{"type":"a","type":"b"}', "duplicate member 'type'"),
        ("[" * 200_000 + "]" * 200_000, "nested"),
        ("{", "not JSON"),
    ],
)
def test_loads_refuses_what_unicode_or_json_forbids(raw: str | bytes, words: str) -> None:
    """Each refusal names its rule."""
    with pytest.raises(TextError, match=words):
        loads(raw)


def test_loads_keeps_escaped_pairs_and_chinese() -> None:
    """A surrogate pair escaped in JSON is one valid character, and Chinese is text."""
    assert loads('{"plate":"粤B12345","note":"\\ud83d\\ude97"}') == {
        "plate": "粤B12345",
        "note": "\U0001f697",
    }
    assert loads(b'{"a":"\\u00e9"}') == {"a": "é"}


@pytest.mark.parametrize(
    ("value", "multiline", "words"),
    [
        ("a\nb", False, "U\\+000A"),
        ("a\rb", True, "U\\+000D"),
        ("a\x00b", True, "U\\+0000"),
        ("a\x85b", False, "U\\+0085"),
        ("a\u2028b", True, "U\\+2028"),
        ("a\ud800", False, "surrogate"),
        ("\u202e54321A粤", False, "U\\+202E"),
        ("备注\u2066x\u2069", True, "U\\+2066"),
        ("x" * 11, False, "longer than 10"),
    ],
)
def test_check_text_refuses_controls_surrogates_and_length(
    value: str, multiline: bool, words: str
) -> None:
    """One-line fields take no line breaks; none take other controls, bidirectional
    controls (text that shows other than it reads) or surrogates."""
    with pytest.raises(TextError, match=words):
        check_text(value, max_len=10, multiline=multiline)


def test_check_text_keeps_right_to_left_text_as_it_is() -> None:
    """Arabic and Hebrew need no bidirectional controls to show right."""
    assert check_text("مرحبا שלום 粤B", max_len=20) == "مرحبا שלום 粤B"


def test_check_text_allows_line_feed_and_tab_when_multiline() -> None:
    """A note may run over lines."""
    assert check_text("一\n二\t三", max_len=10, multiline=True) == "一\n二\t三"


@pytest.mark.parametrize(
    ("value", "shows"),
    [("\u200b", False), (" \u3000\u200d\ufeff", False), ("", False), ("a", True), ("车", True)],
)
def test_visible_needs_a_character_that_shows(value: str, shows: bool) -> None:
    """Spaces, zero-width and format characters say nothing."""
    assert visible(value) is shows


@pytest.mark.parametrize(
    ("raw", "value"),
    [("0", 0), ("50", 50), ("²", None), ("٣", None), ("-1", None), ("9" * 19, None)],
)
def test_parse_count_takes_ascii_digits_only(raw: str, value: int | None) -> None:
    """str.isdigit accepts digits int() refuses; this does not."""
    assert parse_count(raw) == value


def test_escape_controls_keeps_one_line() -> None:
    """Line breaks, controls and surrogates are written as escapes; Chinese stays."""
    assert escape_controls("车\nfake INFO line\r\x1b[2J\ud800\u2028") == (
        "车\\x0afake INFO line\\x0d\\x1b[2J\\ud800\\u2028"
    )


@pytest.mark.usefixtures("logging_restored")
def test_log_lines_cannot_be_forged_by_the_text_they_carry() -> None:
    """A reason with a line feed stays on its event's line in the centre's log."""
    out = io.StringIO()
    configure("INFO", out)
    logging.getLogger("seat.test").info(
        "gate.command.refused detail=%s", "x\n2026-11-28 INFO seat.audit forged"
    )
    lines = out.getvalue().splitlines()
    assert len(lines) == 1 and lines[0].endswith("detail=x\\x0a2026-11-28 INFO seat.audit forged")


@pytest.mark.usefixtures("logging_restored")
def test_chatty_libraries_log_from_warning_at_info() -> None:
    """aioice's per-check INFO lines stay out of an INFO log; DEBUG lets them in."""
    configure("INFO", io.StringIO())
    assert not logging.getLogger("aioice.ice").isEnabledFor(logging.INFO)
    configure("DEBUG", io.StringIO())
    assert logging.getLogger("aioice.ice").isEnabledFor(logging.DEBUG)


def test_encode_json_escapes_a_bad_value_instead_of_failing() -> None:
    """A lone surrogate that got into the state costs one field, not the whole answer."""
    text = encode_json({"lanes": [{"id": "L1", "plate": "\ud800"}, {"id": "L2", "plate": "粤B1"}]})
    assert text.encode("utf-8")
    assert text == '{"lanes":[{"id":"L1","plate":"\\\\ud800"},{"id":"L2","plate":"粤B1"}]}'
