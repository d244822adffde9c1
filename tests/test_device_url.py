"""Camera and sound card URLs as faults, logs and errors show them: no password."""

from __future__ import annotations

import pytest

from media.lane.device_url import holds_secret, shown


@pytest.mark.parametrize(
    ("url", "expected"),
    [
        (
            "rtsp://admin:Secret1@192.168.1.64:554/Streaming/Channels/101",
            "rtsp://admin:***@192.168.1.64:554/Streaming/Channels/101",
        ),
        # FFmpeg takes the userinfo up to the authority's last @.
        ("rtsp://admin:p@ss@cam/stream", "rtsp://admin:***@cam/stream"),
        ("rtsps://admin:pass@[fd00::64]:322/s", "rtsps://admin:***@[fd00::64]:322/s"),
        (
            "http://cam/videostream.cgi?user=admin&pwd=hunter2&rate=0",
            "http://cam/videostream.cgi?user=admin&pwd=***&rate=0",
        ),
        (
            "http://cam/cgi?loginuse=admin&loginpas=hunter2",
            "http://cam/cgi?loginuse=admin&loginpas=***",
        ),
        (
            "https://relay/live?access_token=abc;API_KEY=def;Signature=ghi#t=1",
            "https://relay/live?access_token=***;API_KEY=***;Signature=***#t=1",
        ),
        (
            "rtsp://cam:554/user=admin&password=hunter2&channel=1&stream=0.sdp",
            "rtsp://cam:554/user=admin&password=***&channel=1&stream=0.sdp",
        ),
        ("rtsp://u:pw@cam/s?authorization=x", "rtsp://u:***@cam/s?authorization=***"),
    ],
)
def test_secrets_are_masked_and_the_rest_kept(url: str, expected: str) -> None:
    assert shown(url) == expected
    assert holds_secret(url)
    assert not holds_secret(expected)  # what is shown can be shown again


@pytest.mark.parametrize(
    "url",
    [
        "rtsp://192.168.1.64:554/Streaming/Channels/101",
        "rtsp://viewer@cam/stream",  # a user name alone is no secret
        "rtsp://viewer:@cam/stream",
        "http://cam/cgi?password=&channel=1",
        "http://cam/snap?channel=1&subtype=0",
        "/var/lib/seat/replay.mp4",
        "file:clip.mkv",
        "hw:1,0",
        "default",
        "",
    ],
)
def test_urls_without_a_secret_are_shown_as_they_are(url: str) -> None:
    assert shown(url) == url
    assert not holds_secret(url)


def test_a_path_does_not_end_the_authority_early() -> None:
    """A @ after the authority is the path's, not a userinfo's."""
    url = "rtsp://cam/users/admin@site/stream"
    assert shown(url) == url
