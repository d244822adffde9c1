"""HTTP to a camera that wants Digest authentication (Hikvision ISAPI, Dahua CGI), and
the ``camera_unreachable`` fault both raise when it stops answering.

A camera that is away, slow, or no longer takes our password must be told apart for the
installer: the console shows the fault's detail, and "wrong password" sends someone to
the lane file, "no answer" to the cable. Both surface as ``Unreachable`` here, so a
command refused for them ends with the fault's code, as the seam has it.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from contextlib import AbstractAsyncContextManager

import httpx

from gates.hardware.options import DeviceOptions
from gates.hardware.parts import DeviceFault, Unreachable

log = logging.getLogger("seat.lane.hardware")

WRONG_PASSWORD = "the camera refused the user name or password (HTTP 401)"


class CameraHttp:
    """One camera's HTTP: Digest with httpx (which answers the challenge, and a stale
    nonce, by itself), a timeout for every request, errors as ``Unreachable``."""

    def __init__(self, base_url: str, user: str, password: str, timeout: float) -> None:
        self.base_url = base_url.rstrip("/")
        self.timeout = timeout
        self.auth = httpx.DigestAuth(user, password)
        self._client = httpx.AsyncClient(auth=self.auth, timeout=timeout)

    async def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        try:
            response = await self._client.request(
                method, self.base_url + path, content=content, headers=headers
            )
        except httpx.HTTPError as exc:
            raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, unreachable(exc, self)) from None
        if response.status_code == 401:
            raise Unreachable(DeviceFault.CAMERA_UNREACHABLE, WRONG_PASSWORD)
        return response

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
        return f"no answer from {camera.base_url} within {camera.timeout:g} s"
    if isinstance(exc, httpx.ConnectError):
        return f"cannot connect to {camera.base_url}: {exc or 'refused'}"
    return f"lost {camera.base_url}: {type(exc).__name__} {exc}".rstrip()
