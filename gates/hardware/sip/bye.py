"""The lane's BYE, sent again until the intercom answers it.

aiosipua's ``IncomingCall.hangup()`` builds the BYE, ends the dialog and sends the BYE
once (aiosipua ``incoming_call.py``, ``hangup``); its UAS hands responses only to a UAC
(``uas.py``, ``_on_message``), which the lane has none of, so nothing would ever send
it again. Over UDP a lost BYE leaves the door station off-hook until its own timeout,
so here is the client transaction RFC 3261 §17.1.2.2 asks for: the same request again
at timer E (``timers``) until a final response with its Call-ID and CSeq comes (a 481
too: the door station had already forgotten the call, §15.1.2) or timer F fires."""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field

from aiosipua import SipRequest, SipResponse, SipTransport

from gates.hardware.sip.timers import T2, TimerE

log = logging.getLogger("seat.lane")


@dataclass
class _Waiting:
    cseq: int
    timer: TimerE
    final: asyncio.Event = field(default_factory=asyncio.Event)
    status: int = 0


class Byes:
    """The BYEs the lane has in flight, one per call (by Call-ID)."""

    def __init__(self, device: str, t1: float) -> None:
        self.device = device
        self.t1 = t1
        self._waiting: dict[str, _Waiting] = {}

    async def resend(self, bye: SipRequest, transport: SipTransport, to: tuple[str, int]) -> None:
        """Send ``bye``, already sent once by ``hangup()``, again at timer E until it is
        answered. A second BYE for a call whose first is still in flight is not
        started: the dialog is over, and one transaction carries its end."""
        call_id = bye.call_id or ""
        cseq = bye.cseq
        if cseq is None or call_id in self._waiting:
            return
        waiting = self._waiting[call_id] = _Waiting(cseq.seq, TimerE(self.t1, T2))
        sent = 1
        try:
            wait = waiting.timer.next()
            while wait is not None:
                try:
                    await asyncio.wait_for(waiting.final.wait(), wait)
                except TimeoutError:
                    wait = waiting.timer.next()
                    if wait is not None:
                        transport.send(bye, to)
                        sent += 1
                    continue
                log.info(
                    "lane.sip.bye_answered device=%s call=%s status=%d sent=%d",
                    self.device,
                    call_id,
                    waiting.status,
                    sent,
                )
                return
            log.warning(
                "lane.sip.bye_unanswered device=%s call=%s sent=%d after_s=%g",
                self.device,
                call_id,
                sent,
                waiting.timer.timeout,
            )
        finally:
            del self._waiting[call_id]

    def answered(self, response: SipResponse) -> bool:
        """Whether ``response`` answers a BYE in flight (its Call-ID, its CSeq number
        and method): a final one (2xx-6xx) ends its resending, a provisional one (1xx)
        spaces it at T2 (RFC 3261 §17.1.2.2)."""
        cseq = response.cseq
        waiting = self._waiting.get(response.call_id or "")
        if cseq is None or waiting is None or (cseq.seq, cseq.method) != (waiting.cseq, "BYE"):
            return False
        if 200 <= response.status_code <= 699:
            waiting.status = response.status_code
            waiting.final.set()
        elif 100 <= response.status_code <= 199:
            waiting.timer.proceeding = True
        else:
            return False
        return True
