"""HTTP to a camera that wants Digest authentication (Hikvision ISAPI, Dahua CGI), and
the ``camera_unreachable`` fault both raise when it stops answering.

A camera that is away, slow, or no longer takes our password must be told apart for the
installer: the console shows the fault's detail, and "wrong password" sends someone to
the lane file, "no answer" to the cable. Both surface as ``Unreachable`` here, so a
command refused for them ends with the fault's code, as the seam has it.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass

import httpx

from gates.hardware.options import DeviceOptions
from gates.hardware.parts import DeviceFault, Unreachable

log = logging.getLogger("seat.lane.hardware")

WRONG_PASSWORD = "the camera refused the user name or password (HTTP 401)"

# A status, an XML or a JSON answer is a few kilobytes; a still picture is the one
# large answer a lane asks for, and asks for with its own limit.
MAX_REPLY = 1024 * 1024


@dataclass(frozen=True, slots=True)
class CameraReply:
    status_code: int
    content: bytes


class CameraHttp:
    """One camera's HTTP: Digest with httpx (which answers the challenge, and a stale
    nonce, by itself), errors as ``Unreachable``.

    ``timeout`` bounds each request whole, from connecting to the body's last byte:
    httpx's own timeout is per read, so a camera sending a byte a second would hold an
    open forever. The body is read as it comes and refused past its limit, so a camera
    gone wrong cannot fill the lane's memory."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.auth = httpx.DigestAuth(user, password)
        # Plain bodies only: a compressed one would be counted after it was inflated,
        # a thousandfold past its limit in one chunk.
        self._client = httpx.AsyncClient(
            auth=self.auth, timeout=timeout, headers={"accept-encoding": "identity"}
        )

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
        limit: int = MAX_REPLY,
    ) -> CameraReply:
        try:
            async with asyncio.timeout(self.timeout):
                reply = await self._exchange(method, path, content, headers, limit)
        except TimeoutError:
            raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, no_answer(self)) from None
        except httpx.HTTPError as exc:
            raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, unreachable(exc, self)) from None
        if reply.status_code == 401:
            raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, WRONG_PASSWORD)
        return reply

    async def _exchange(
        self,
        method: str,
        path: str,
        content: bytes | None,
        headers: Mapping[str, str] | None,
        limit: int,
    ) -> CameraReply:
        url = self.base_url + path
        async with self._client.stream(method, url, content=content, headers=headers) as response:
            encoding = response.headers.get("content-encoding", "identity").strip().lower()
            if encoding not in ("identity", ""):
                raise Unreachable(
                    DeviceFault.CAMERA_UNREACHABLE,
                    f"{self.base_url} answered {path.split('?')[0]} compressed ({encoding}),"
                    " which the lane did not ask for",
                )
            body = bytearray()
            async for chunk in response.aiter_raw():
                body += chunk
                if len(body) > limit:
                    raise Unreachable(
                        DeviceFault.CAMERA_UNREACHABLE,
                        f"{self.base_url} answered {path.split('?')[0]} with more than "
                        f"{limit // 1024} KiB",
                    )
            return CameraReply(response.status_code, bytes(body))

    def stream(self, path: str, read_timeout: float) -> AbstractAsyncContextManager[httpx.Response]:
        """A long GET whose body is read as it comes; a read that waits ``read_timeout``
        raises ``httpx.ReadTimeout``."""
        timeout = httpx.Timeout(self.timeout, read=read_timeout)
        return self._client.stream("GET", self.base_url + path, timeout=timeout)

    async def aclose(self) -> None:
        await self._client.aclose()


def from_options(options: DeviceOptions) -> tuple[str, CameraHttp]:
    """The camera's host as the lane file names it, and its HTTP: ``host``, ``port``
    (80), ``user`` ("admin", the factory account), ``password`` (a secret), ``timeout``."""
    host = options.text("host")
    port = options.integer("port", 80, low=1, high=65535)
    base_url = f"http://[{host}]:{port}" if ":" in host else f"http://{host}:{port}"
    try:
        if httpx.URL(base_url).host != host.lower():
            raise httpx.InvalidURL(host)
    except httpx.InvalidURL:
        raise options.fail("host", f"{host!r} is not a host name or an IP address") from None
    http = CameraHttp(
        base_url,
        options.text("user", "admin"),
        options.secret("password"),
        options.seconds("timeout", 3.0, low=0.5, high=30.0),
    )
    return host, http


def unreachable(exc: httpx.HTTPError, camera: CameraHttp) -> str:
    """The fault's detail for a request that got no HTTP answer."""
    if isinstance(exc, httpx.TimeoutException):
        return no_answer(camera)
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {camera.base_url}: {exc or 'refused'}"
    return f"lost {camera.base_url}: {type(exc).__name__} {exc}".rstrip()


def no_answer(camera: CameraHttp) -> str:
    return f"no answer from {camera.base_url} within {camera.timeout:g} s"
