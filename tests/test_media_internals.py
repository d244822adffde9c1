"""The import-time checks of the private aiortc and aioice parts the centre relies on."""

from __future__ import annotations

import pytest

from media.centre.internals import require

CONSENT_INTERVAL = 5


def consent_round() -> int:
    return CONSENT_INTERVAL * 2


def renamed_round() -> int:
    return 10


def test_a_function_that_still_uses_the_names_passes() -> None:
    """A function whose code still refers to every name needed is accepted."""
    require("m", "pkg", "1.1", "1.0", {"consent_round": (consent_round, {"CONSENT_INTERVAL"})}, "x")


def test_a_renamed_part_fails_the_import_naming_it() -> None:
    """A function that no longer refers to a needed name raises ImportError naming the
    package, its version, the function, the name and what would break."""
    with pytest.raises(ImportError) as raised:
        require(
            "media.viewer",
            "aioice",
            "0.14.0",
            "0.13",
            {"ice.Connection.query_consent": (renamed_round, {"CONSENT_INTERVAL"})},
            "dead viewers linger",
        )
    message = str(raised.value)
    assert "aioice 0.14.0's ice.Connection.query_consent" in message
    assert "['CONSENT_INTERVAL']" in message and "dead viewers linger" in message
    assert "written against aioice 0.13" in message


def test_a_part_that_is_gone_fails_the_import() -> None:
    """A function that no longer exists at all (looked up as None) fails the same way."""
    with pytest.raises(ImportError, match="no longer uses"):
        require("m", "pkg", "2.0", "1.0", {"Sender._hook": (None, {"_hook"})}, "x")
