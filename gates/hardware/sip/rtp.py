"""A call's RTP as the lane takes it: from the intercom only, and watched for silence.

The lane's LAN is not a trusted place, and an RTP port is open to anyone who finds it:
aiortp plays whatever arrives there, so a stranger's packets would be the driver's
voice in the agent's ear. Only packets from the address the intercom's SDP gave are
heard. The port is not checked: some door stations send from another port than the one
they receive on, and a sender that can forge its address can forge its port too.

An intercom that loses power or its cable mid-call never says BYE; the only sign is
that its RTP stops. A call whose intercom has sent nothing for the lane file's
``rtp_timeout`` is ended as a BYE would end it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging

from aiortp import RTPSession

log = logging.getLogger("seat.lane")


class IntercomRtp(RTPSession):
    """aiortp's session hearing only ``source``, the intercom's media address (which a
    re-INVITE's ``update_remote`` moves), each packet heard moving on the deadline of
    ``until_silent``."""

    source: str
    silence_s: float
    strangers: int  # packets dropped, for the log
    _silence: asyncio.Timeout | None

    @classmethod
    async def open(
        cls, local: tuple[str, int], remote: tuple[str, int], payload_type: int, silence_s: float
    ) -> IntercomRtp:
        session = await cls.create(local_addr=local, remote_addr=remote, payload_type=payload_type)
        assert isinstance(session, IntercomRtp)  # create() makes one of cls
        session.source = remote[0]
        session.silence_s = silence_s
        session.strangers = 0
        session._silence = None
        return session

    async def until_silent(self) -> None:
        """Return once the intercom has sent nothing for ``silence_s``."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self.silence_s) as deadline:
                self._silence = deadline
                await asyncio.Event().wait()  # only the deadline ends this

    def update_remote(self, addr: tuple[str, int]) -> None:
        self.source = addr[0]
        super().update_remote(addr)

    def _handle_rtp(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._heard(addr):
            super()._handle_rtp(data, addr)

    def _handle_rtcp(self, data: bytes, addr: tuple[str, int]) -> None:
        if self._heard(addr):
            super()._handle_rtcp(data, addr)

    def _heard(self, addr: tuple[str, int]) -> bool:
        if addr[0] == self.source:
            if self._silence is not None:
                self._silence.reschedule(asyncio.get_running_loop().time() + self.silence_s)
            return True
        self.strangers += 1
        if self.strangers == 1 or self.strangers % 500 == 0:  # not one line per packet
            log.warning(
                "lane.sip.rtp_stranger from=%s:%d intercom=%s dropped=%d",
                *addr,
                self.source,
                self.strangers,
            )
        return False
