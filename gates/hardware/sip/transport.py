"""The SIP socket the lane agent listens on."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

from aiosipua import UdpSipTransport


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, deliver: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.deliver = deliver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.deliver(data, (str(addr[0]), int(addr[1])))


class UdpTransport(UdpSipTransport):
    """aiosipua's UDP transport, bound without its protocol's check that the socket is
    an ``asyncio.DatagramTransport``: CPython before 3.12 and uvloop give a transport
    that is not one, so the check logs an error at every start although the transport
    works (the endpoint's result is what it keeps)."""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._dispatch), local_addr=self.local_addr
        )
