"""The multipart reader both cameras' payloads go through, without sockets: parts come
out whole however the bytes are cut, a part's Content-Length is trusted over boundary
bytes inside a JPEG, and a body over its limits is refused rather than kept."""

from __future__ import annotations

import pytest

from gates.hardware.jpeg import jpeg_size, scaled_box
from gates.hardware.multipart import MultipartError, MultipartReader, boundary_of, split

STREAM = (
    b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 9\r\n\r\nHeartbeat\r\n"
    b"--myboundary\r\nContent-Type: text/plain\r\nContent-Length: 44\r\n\r\n"
    b"Events[0].TrafficCar.PlateNumber=\xe7\xb2\xa4B12345\r\n\r\n"
    b"--myboundary\r\nContent-Type: image/jpeg\r\nContent-Length: 21\r\n\r\n"
    b"\xff\xd8\xff\r\n--myboundary\r\n\xff\xd9\r\n"
)


def test_parts_come_out_whole_wherever_the_reads_are_cut() -> None:
    whole = MultipartReader(b"myboundary", max_part=1000).feed(STREAM)
    assert [p.body for p in whole] == [
        b"Heartbeat",
        "Events[0].TrafficCar.PlateNumber=粤B12345\r\n".encode(),
        b"\xff\xd8\xff\r\n--myboundary\r\n\xff\xd9",  # the boundary's bytes inside: kept
    ]
    for cut in range(1, len(STREAM)):
        reader = MultipartReader(b"myboundary", max_part=1000)
        parts = reader.feed(STREAM[:cut]) + reader.feed(STREAM[cut:])
        assert parts == whole, cut
    reader = MultipartReader(b"myboundary", max_part=1000)
    assert [p for byte in STREAM for p in reader.feed(bytes([byte]))] == whole


def test_a_form_without_lengths_is_cut_at_its_boundaries() -> None:
    body = (
        b'--boundary\r\nContent-Disposition: form-data; name="anpr.xml"; filename="anpr.xml"\r\n'
        b"Content-Type: text/xml\r\n\r\n<a/>\r\n"
        b'--boundary\r\nContent-Disposition: form-data; name="detectionPicture.jpg"\r\n'
        b"Content-Type: image/jpeg\r\n\r\n\xff\xd8\xff--boundar\xff\xd9\r\n--boundary--\r\n"
    )
    parts = split("multipart/form-data; boundary=boundary", body, max_part=100)
    assert [(p.name, p.content_type, p.body) for p in parts] == [
        ("anpr.xml", "text/xml", b"<a/>"),
        ("detectionPicture.jpg", "image/jpeg", b"\xff\xd8\xff--boundar\xff\xd9"),
    ]


@pytest.mark.parametrize(
    ("content_type", "body", "error"),
    [
        ("text/xml", b"", "not multipart"),
        ("multipart/form-data", b"", "no boundary"),
        ('multipart/form-data; boundary=""', b"", "bad boundary"),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\nno end", "ends before"),
        ("multipart/form-data; boundary=b", b"--b\r\nContent-Length: x\r\n\r\n", "Content-Length"),
        # A digit to str.isdigit, not to int: refused as the part's, not a crash.
        (
            "multipart/form-data; boundary=b",
            "--b\r\nContent-Length: ²\r\n\r\n".encode("latin-1"),
            "Content-Length",
        ),
        (
            "multipart/form-data; boundary=b",
            b"--b\r\nContent-Length: 101\r\n\r\n",
            "over the limit",
        ),
        ("multipart/form-data; boundary=b", b"--b\r\n\r\n" + b"x" * 200, "over the limit"),
        ("multipart/form-data; boundary=b", b"--b\r\nno colon\r\n\r\n", "bad part header"),
        ("multipart/form-data; boundary=b", b"--b junk\r\n\r\n", "after the boundary"),
    ],
)
def test_what_is_not_a_bounded_multipart_body_is_refused(
    content_type: str, body: bytes, error: str
) -> None:
    with pytest.raises(MultipartError, match=error):
        split(content_type, body, max_part=100)


def test_a_stream_of_garbage_or_endless_headers_is_refused_not_kept() -> None:
    with pytest.raises(MultipartError, match="no boundary"):
        MultipartReader(b"b", max_part=100, max_header=64).feed(b"x" * 65)
    with pytest.raises(MultipartError, match="headers over the limit"):
        MultipartReader(b"b", max_part=100, max_header=64).feed(b"--b\r\nA: " + b"x" * 70)


def test_boundary_of_takes_a_quoted_one() -> None:
    assert boundary_of('multipart/x-mixed-replace; boundary="myboundary"') == b"myboundary"


def test_a_jpeg_says_its_size_and_a_box_scales_into_it() -> None:
    header = b"\xff\xd8\xff\xe0\x00\x10JFIF\x00\x01\x01\x00\x00\x01\x00\x01\x00\x00"
    frame = b"\xff\xc0\x00\x11\x08\x02\xd0\x05\x00\x03\x01\x22\x00\x02\x11\x01\x03\x11\x01"
    assert jpeg_size(header + frame) == (1280, 720)
    assert jpeg_size(b"\x89PNG") is None
    assert jpeg_size(header + b"\xff\xda\x00\x02") is None
    assert scaled_box((500, 500, 100, 100), 1000, (1280, 720)) == (640, 360, 128, 72)
    assert scaled_box((950, 0, 100, 2000), 1000, (1000, 100)) == (950, 0, 50, 100)
