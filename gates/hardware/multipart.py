"""MIME multipart bodies, read as they arrive, within bounds.

Two cameras speak it: Hikvision's listening-host push is one ``multipart/form-data``
body (an ``anpr.xml`` part, then JPEGs), and Dahua's ``attachFileProc`` is an endless
``multipart/x-mixed-replace`` stream (a text part of ``key=value`` lines, JPEGs,
heartbeats). One reader serves both: it takes bytes in whatever pieces the socket gives
(a boundary can be split across two reads), hands back each part once it is whole, and
refuses a part or a header block over its limit rather than buffer a camera's garbage
without end. A part's ``Content-Length``, where the camera sends one, is trusted for its
end, so a JPEG holding the boundary's bytes is not cut; without one the boundary ends it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

from gates.textrules import parse_count


class MultipartError(ValueError):
    """The bytes are not a multipart body, or a part is over its limit."""


@dataclass(frozen=True, slots=True)
class Part:
    headers: Mapping[str, str]  # lower-case names
    body: bytes

    @property
    def content_type(self) -> str:
        return self.headers.get("content-type", "").split(";")[0].strip().lower()

    @property
    def name(self) -> str:
        """The form field's name (``Content-Disposition: form-data; name="anpr.xml"``)."""
        for param in self.headers.get("content-disposition", "").split(";")[1:]:
            key, _, value = param.strip().partition("=")
            if key.lower() == "name":
                return value.strip().strip('"')
        return ""


def boundary_of(content_type: str) -> bytes:
    """The boundary named by a ``Content-Type`` header, checked as RFC 2046 §5.1.1 has it."""
    kind, *params = content_type.split(";")
    if not kind.strip().lower().startswith("multipart/"):
        raise MultipartError(f"not multipart: {kind.strip()!r}")
    for param in params:
        key, _, value = param.strip().partition("=")
        if key.lower() == "boundary":
            boundary = value.strip().strip('"')
            if not 0 < len(boundary) <= 70 or not boundary.isascii():
                raise MultipartError(f"bad boundary {boundary!r}")
            return boundary.encode("ascii")
    raise MultipartError("no boundary in the content type")


class MultipartReader:
    """Parts out of a multipart body fed in pieces. ``feed`` returns the parts completed
    by the bytes given; ``closed`` is set once the closing delimiter has been read."""

    def __init__(self, boundary: bytes, *, max_part: int, max_header: int = 8192) -> None:
        self._delimiter = b"--" + boundary
        self._max_part = max_part
        self._max_header = max_header
        self._buf = bytearray()
        self._headers: dict[str, str] | None = None  # of the part being read, once read
        self._length: int | None = None
        self._scanned = 0
        self.closed = False

    def feed(self, data: bytes) -> list[Part]:
        if self.closed:
            if data.strip():
                raise MultipartError("bytes after the closing delimiter")
            return []
        self._buf += data
        parts: list[Part] = []
        while not self.closed:
            if self._headers is None:
                if not self._read_headers():
                    break
            else:
                part = self._read_body()
                if part is None:
                    break
                parts.append(part)
        return parts

    def _read_headers(self) -> bool:
        """Past the next delimiter line and the part's headers; False until they are in."""
        start = self._buf.find(self._delimiter)
        if start < 0:
            if len(self._buf) > self._max_header:
                raise MultipartError("no boundary where a part should begin")
            return False
        if start > self._max_header and self._buf[:start].strip():
            raise MultipartError("no boundary where a part should begin")
        line_end = self._buf.find(b"\n", start)
        after = start + len(self._delimiter)
        if self._buf[after : after + 2] == b"--":
            self.closed = True
            del self._buf[:]
            return False
        if line_end < 0:
            if len(self._buf) - start > self._max_header:
                raise MultipartError("delimiter line too long")
            return False
        if self._buf[after:line_end].strip():
            raise MultipartError("text after the boundary on its line")
        block_start = line_end + 1
        if self._buf[block_start : block_start + 2] == b"\r\n":
            block_end, body_start = block_start, block_start + 2
        else:
            block_end = self._buf.find(b"\r\n\r\n", block_start)
            if block_end < 0:
                if len(self._buf) - block_start > self._max_header:
                    raise MultipartError("part headers over the limit")
                return False
            body_start = block_end + 4
        if block_end - block_start > self._max_header:
            raise MultipartError("part headers over the limit")
        self._headers = _headers(bytes(self._buf[block_start:block_end]))
        self._length = _length(self._headers, self._max_part)
        del self._buf[:body_start]
        self._scanned = 0
        return True

    def _read_body(self) -> Part | None:
        assert self._headers is not None
        if self._length is not None:
            if len(self._buf) < self._length:
                return None
            end, resume = self._length, self._length
        else:
            marker = b"\r\n" + self._delimiter
            found = self._buf.find(marker, max(0, self._scanned - len(marker)))
            if found < 0:
                self._scanned = len(self._buf)
                if len(self._buf) > self._max_part + len(marker):
                    raise MultipartError(f"part over the limit of {self._max_part} bytes")
                return None
            end, resume = found, found + 2
        if end > self._max_part:
            raise MultipartError(f"part over the limit of {self._max_part} bytes")
        part = Part(self._headers, bytes(self._buf[:end]))
        del self._buf[:resume]
        self._headers = None
        self._length = None
        return part


def _headers(block: bytes) -> dict[str, str]:
    headers: dict[str, str] = {}
    for line in block.decode("latin-1").split("\r\n"):
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not name.strip() or name != name.strip():
            raise MultipartError(f"bad part header {line[:60]!r}")
        headers[name.lower()] = value.strip()
    return headers


def _length(headers: Mapping[str, str], limit: int) -> int | None:
    if "content-length" not in headers:
        return None
    text = headers["content-length"]
    length = parse_count(text)
    if length is None:
        raise MultipartError(f"bad part Content-Length {text[:20]!r}")
    if length > limit:
        raise MultipartError(f"part of {length} bytes over the limit of {limit}")
    return length


def split(content_type: str, body: bytes, *, max_part: int) -> list[Part]:
    """Every part of a whole body, which must end with its closing delimiter."""
    reader = MultipartReader(boundary_of(content_type), max_part=max_part)
    parts = reader.feed(body)
    if not reader.closed:
        raise MultipartError("the body ends before its closing delimiter")
    return parts
