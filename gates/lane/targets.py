"""Where a lane dials: its centres' URLs, each name resolved to the addresses it has.

A name with several addresses (a DNS round robin over two centres, a host with IPv4 and
IPv6) is dialled address by address, so one dead address does not hide a live one. The
URL keeps the name: the Host header and TLS's server name (SNI) are the name's, only
the TCP connection goes to the address. Names are resolved with the event loop's
resolver, off the loop's thread, each round (``gates.lane.rotation``).
"""

from __future__ import annotations

import asyncio
import logging
import socket
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from typing import Any

from websockets.exceptions import InvalidURI
from websockets.proxy import get_proxy
from websockets.uri import parse_uri

log = logging.getLogger("seat.lane")


@dataclass(frozen=True, slots=True)
class Target:
    """One place to dial: a ws(s):// URL, and the address its host resolved to (None:
    the connection resolves it, as through an HTTP or SOCKS proxy)."""

    url: str
    address: str | None = None

    def options(self) -> dict[str, Any]:
        """``websockets.connect``'s arguments that send the connection to ``address``.
        It takes TLS's server name from the URL whatever host it connects to."""
        return {} if self.address is None else {"host": self.address}

    def beside(self, url: str) -> Target:
        """Another endpoint of the same centre (the media connection beside the link),
        dialled at the same address."""
        return replace(self, url=url)

    def __str__(self) -> str:
        return self.url if self.address is None else f"{self.url}@{self.address}"


def split_servers(values: Iterable[str]) -> list[str]:
    """``--server`` values, each one URL or several separated by commas."""
    servers = [part.strip() for value in values for part in value.split(",")]
    if not servers or not all(servers):
        raise ValueError(
            "--server takes centre URLs, e.g. http://centre-a:8080,http://centre-b:8080"
        )
    return servers


async def resolve(urls: Sequence[str]) -> list[Target]:
    """Every URL's addresses, in the resolver's order (RFC 6724 prefers among IPv6 and
    IPv4), each once. A name that does not resolve stays, unresolved: dialling it fails
    and is logged like any other failure, and the lane moves to the next."""
    loop = asyncio.get_running_loop()
    found: list[Target] = []
    for url in urls:
        for target in await _addresses(loop, url):
            if target not in found:
                found.append(target)
    return found


async def _addresses(loop: asyncio.AbstractEventLoop, url: str) -> list[Target]:
    try:
        uri = parse_uri(url)
    except InvalidURI:
        return [Target(url)]
    if get_proxy(uri) is not None:
        return [Target(url)]  # the proxy resolves the name, and is the one connected to
    try:
        infos = await loop.getaddrinfo(uri.host, uri.port, type=socket.SOCK_STREAM)
    except OSError as exc:
        log.warning("lane.link.unresolved url=%s error=%r", url, exc)
        return [Target(url)]
    addresses = dict.fromkeys(str(info[4][0]) for info in infos)
    return [Target(url, address) for address in addresses]
