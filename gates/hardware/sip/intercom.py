"""A SIP intercom at the lane (2N, Hikvision DS-KV, Dahua VTO, any that calls by IP).

The lane agent is the SIP endpoint the intercom calls on the lane's LAN: its call
button dials the agent directly (peer to peer, no PBX). An INVITE from the intercom is
the lane's ``call`` event; the agent answers it at once, and the call's G.711 audio
becomes the lane's sound (``CallAudio``, a ``gates.hardware.parts.LaneAudio``).
Signalling, transactions and SDP negotiation are ``aiosipua``'s, RTP and G.711
``aiortp``'s; what is here is the lane's policy: one call at a time, only the
configured intercom may call and only its RTP is heard (``rtp``), a call whose
intercom vanished without BYE ends when its RTP stops, a call the centre says is over
(its agent ended it, or nobody answered) is hung up with BYE, sent again until the
intercom answers it (``bye``), and the intercom is checked with OPTIONS so a dead or
unplugged one is a lane fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiortp import PortAllocator
from aiosipua import (
    IncomingCall,
    SipRequest,
    SipResponse,
    SipUAS,
    UdpSipTransport,
)

from gates.backoff import Backoff
from gates.hardware.latch import FaultLatch
from gates.hardware.parts import DeviceFault, Emit
from gates.hardware.sip.audio import CallAudio
from gates.hardware.sip.bye import Byes
from gates.hardware.sip.offers import Answer, OfferRefused, answer
from gates.hardware.sip.requests import (
    USER_AGENT,
    forbidden,
    local_ip,
    no_dialog,
    options,
    registered,
)
from gates.hardware.sip.rtp import IntercomRtp
from gates.hardware.sip.timers import T1, T2, TimerE
from gates.hardware.sip.transport import UdpTransport
from gates.lane.drivers import CallEnded, CallPressed

log = logging.getLogger("seat.lane")


@dataclass
class _Call:
    """The call that is up: its dialog, the SDP origin of our answers, its RTP, and the
    press it rang the centre with (None until the 200 OK went out)."""

    sip: IncomingCall
    session: str
    port: int
    version: int = 0
    rtp: IntercomRtp | None = None
    payload_type: int | None = None
    press: str | None = None


class SipIntercom:
    def __init__(
        self,
        name: str,
        *,
        listen: tuple[str, int],
        intercom: tuple[str, int],
        rtp_ports: tuple[int, int],
        keepalive_s: float,
        answer_s: float,
        rtp_timeout_s: float,
        backoff: Callable[[], Backoff] = Backoff,
        t1_s: float = T1,
    ) -> None:
        self.name = name
        self.bind = listen
        self.intercom = intercom
        self.keepalive_s = keepalive_s
        self.answer_s = answer_s
        self.rtp_timeout_s = rtp_timeout_s
        self.backoff = backoff
        self.t1_s = t1_s
        self._byes = Byes(name, t1_s)
        self.audio = CallAudio()
        self._ports = PortAllocator(rtp_ports)
        self._call: _Call | None = None
        self._heard = asyncio.Event()
        self._emit: Emit | None = None
        self._tasks: asyncio.TaskGroup | None = None
        self._local_ip = listen[0]

    def listen(self) -> asyncio.Queue[bytes]:
        return self.audio.listen()

    def unlisten(self, queue: asyncio.Queue[bytes]) -> None:
        self.audio.unlisten(queue)

    def say(self, pcm: bytes) -> None:
        self.audio.say(pcm)

    async def run(self, emit: Emit) -> None:
        self._emit = emit
        self._local_ip = local_ip(self.bind[0], self.intercom)
        transport = UdpTransport(local_addr=self.bind)
        uas = SipUAS(
            transport, user_agent=USER_AGENT, advertised_addr=(self._local_ip, self.bind[1])
        )
        uas.on_invite = self._on_invite
        uas.on_reinvite = self._on_reinvite
        uas.on_bye = lambda call, _request: self._on_gone(call, "bye")
        uas.on_ack_timeout = lambda call: self._on_gone(call, "no_ack")
        uas.on_cancel = lambda request, _addr: self._on_cancel(request)
        await uas.start()
        route = transport.on_message
        assert route is not None  # the UAS set it in start()

        def screen(message: SipRequest | SipResponse, addr: tuple[str, int]) -> None:
            self._screen(transport, message, addr, route)

        transport.on_message = screen
        log.info(
            "lane.sip.listening device=%s listen=%s:%d intercom=%s:%d",
            self.name,
            *self.bind,
            *self.intercom,
        )
        try:
            async with asyncio.TaskGroup() as tasks:
                self._tasks = tasks
                await self._watch(transport, emit)
        finally:
            self._tasks = None
            call, self._call = self._call, None
            if call is not None:
                call.sip.hangup()  # once: the device is stopping, nothing will resend it
                await self._close_media(call)
            await uas.stop()

    def _screen(
        self,
        transport: UdpSipTransport,
        message: SipRequest | SipResponse,
        addr: tuple[str, int],
        route: Callable[[SipRequest | SipResponse, tuple[str, int]], None],
    ) -> None:
        """Only the intercom is heard: anyone else on the LAN (a SIP scanner, a second
        intercom wired to the wrong lane) is refused with 403 and reaches no call."""
        if addr[0] == self.intercom[0]:
            self._heard.set()
            if isinstance(message, SipResponse):
                self._byes.answered(message)
            if isinstance(message, SipRequest) and message.method == "REGISTER":
                transport.send_reply(registered(message))
            elif isinstance(message, SipRequest) and not self._settled(transport, message):
                route(message, addr)
            return
        if isinstance(message, SipRequest) and message.method != "ACK":
            log.warning(
                "lane.sip.refused device=%s from=%s:%d method=%s",
                self.name,
                *addr,
                message.method,
            )
            transport.send_reply(forbidden(message))

    def _settled(self, transport: UdpSipTransport, request: SipRequest) -> bool:
        """Answer here what the stack would get wrong, and say so:

        * a re-INVITE (an INVITE with a To tag) in a call that is not up, such as one
          crossing the BYE of an agent's hang-up, is 481 (RFC 3261 §12.2.2); the stack,
          which keeps a dialog it said BYE to, would take it for a new call and ring
          the centre again;
        * a CANCEL of a call the lane already answered changes nothing but its own
          200 (RFC 3261 §9.2): the intercom ACKs our 200 OK and then says BYE (§9.1).
          The stack would forget the call, and answer that BYE 481 with the lane's
          call left up."""
        state = self._call
        current = state is not None and state.sip.call_id == request.call_id
        in_dialog = request.to_addr is not None and bool(request.to_addr.tag)
        if request.method == "INVITE" and in_dialog and not current:
            transport.send_reply(no_dialog(request))
            return True
        if request.method == "CANCEL" and state is not None and current and state.press:
            log.info("lane.sip.cancel_crossed device=%s call=%s", self.name, request.call_id)
            transport.send_reply(state.sip.dialog.create_response(request, 200, "OK"))
            return True
        return False

    def _spawn(self, work: Coroutine[Any, Any, None]) -> None:
        """The stack's callbacks are plain functions; what they start that waits (an
        RTP socket, a port) runs in the device's task group, so a fault in it is ours
        and not lost."""
        if self._tasks is None:
            work.close()
            raise RuntimeError("a SIP request reached the intercom after it stopped")
        self._tasks.create_task(work)

    def _on_invite(self, call: IncomingCall) -> None:
        """A new call from the intercom. One that comes while another is up replaces
        it: the intercom is one door station, so dialling again means it no longer
        holds the old call (it rebooted, or its firmware dropped the call without a
        BYE), and a lane answering 486 to it would stay deaf until restarted."""
        stale, self._call = self._call, _Call(call, session=str(int(time.time())), port=0)
        if stale is not None:
            log.warning(
                "lane.sip.replaced device=%s call=%s by=%s",
                self.name,
                stale.sip.call_id,
                call.call_id,
            )
            if not self._hang_up(stale.sip):  # not answered yet: nothing to say BYE to
                stale.sip.reject(487, "Request Terminated")
            self._spawn(self._close_media(stale))
        self._spawn(self._answer(call))

    async def _answer(self, call: IncomingCall) -> None:
        state = self._call
        if state is None or state.sip is not call:
            return
        try:
            state.port, _ = await self._ports.allocate()
        except RuntimeError as exc:
            log.error("lane.sip.no_rtp_port device=%s error=%s", self.name, exc)
            self._call = None
            call.reject(503, "Service Unavailable")
            return
        try:
            reply = answer(
                call.sdp_offer, self._local_ip, state.port, state.session, 0, self.intercom[0]
            )
        except OfferRefused as exc:
            log.warning(
                "lane.sip.offer_refused device=%s status=%d detail=%s",
                self.name,
                exc.status,
                exc.detail,
            )
            self._call = None
            await self._ports.release(state.port)
            call.reject(exc.status)
            return
        try:
            await self._start_media(state, reply)
        except OSError as exc:  # the port was taken between choosing and binding it
            log.error("lane.sip.rtp_failed device=%s port=%d error=%s", self.name, state.port, exc)
            if self._call is state:
                self._call = None
            await self._ports.release(state.port)
            call.reject(503, "Service Unavailable")
            return
        if self._call is not state:  # cancelled or hung up while the media started
            await self._close_media(state)
            return
        call.accept(reply.sdp)
        press = CallPressed()
        state.press = press.event_id
        log.info(
            "lane.sip.answered device=%s call=%s codec=%s remote=%s event_id=%s",
            self.name,
            call.call_id,
            reply.payload_type,
            reply.remote,
            press.event_id,
        )
        assert self._emit is not None
        self._emit(press)

    def _on_reinvite(self, call: IncomingCall) -> None:
        self._spawn(self._renegotiate(call))

    async def _renegotiate(self, call: IncomingCall) -> None:
        """A re-INVITE keeps the call: new address, new codec, or its audio turned off
        (``m=audio 0``) or on again; an offer we cannot take leaves the call as it was
        (488, RFC 3261 §14.2)."""
        state = self._call
        if state is None or state.sip.call_id != call.call_id:
            self._refuse(call, 481)  # the call ended while its re-INVITE waited
            return
        try:
            reply = answer(
                call.sdp_offer,
                self._local_ip,
                state.port,
                state.session,
                state.version + 1,
                self.intercom[0],
            )
        except OfferRefused as exc:
            log.warning(
                "lane.sip.reoffer_refused device=%s status=%d detail=%s",
                self.name,
                exc.status,
                exc.detail,
            )
            self._refuse(call, exc.status)
            return
        state.version += 1
        if (
            reply.remote is not None
            and state.rtp is not None
            and reply.payload_type == state.payload_type
        ):
            state.rtp.update_remote(reply.remote)
        else:
            await self._close_media(state, release=False)
            try:
                await self._start_media(state, reply)
            except OSError as exc:
                log.error(
                    "lane.sip.rtp_failed device=%s port=%d error=%s", self.name, state.port, exc
                )
                self._refuse(call, 500)  # the call stays, without sound
                return
        call.accept(reply.sdp)
        log.info(
            "lane.sip.renegotiated device=%s call=%s codec=%s remote=%s",
            self.name,
            call.call_id,
            reply.payload_type,
            reply.remote,
        )

    def _refuse(self, call: IncomingCall, status: int) -> None:
        """Refuse a re-INVITE and keep the call: ``IncomingCall.reject`` would end the
        dialog, where RFC 3261 §14.2 keeps the session as it was."""
        if call.transport is not None:
            call.transport.send_reply(call.dialog.create_response(call.invite, status))

    def _on_gone(self, call: IncomingCall, why: str) -> None:
        """The intercom hung up (or never confirmed our answer, or its RTP stopped): the
        call is over at the lane, and the centre is told (``CallEnded``), so the
        console's call ends too; the intercom's next press is a new ``call``."""
        state = self._call
        if state is None or state.sip.call_id != call.call_id:
            return
        self._call = None
        log.info("lane.sip.ended device=%s call=%s by=%s", self.name, call.call_id, why)
        self._spawn(self._close_media(state))
        if state.press is not None and self._emit is not None:
            self._emit(CallEnded(state.press))

    def end_call(self, event_ids: tuple[str, ...]) -> None:
        """The centre's call that this intercom's press rang is over (the agent hung up,
        or nobody answered it): BYE, so the door station goes on-hook rather than wait
        for its own timeout. A call of a later press is not that one and stays up."""
        state = self._call
        if state is None or state.press not in event_ids:
            return
        self._call = None
        log.info("lane.sip.hung_up device=%s call=%s", self.name, state.sip.call_id)
        self._hang_up(state.sip)
        self._spawn(self._close_media(state))

    def _hang_up(self, call: IncomingCall) -> bool:
        """BYE to an answered call, sent again until the intercom answers it; whether
        there was one to send (a call not yet answered has no dialog to end)."""
        bye = call.hangup()
        if bye is None:
            return False
        if call.transport is not None:
            self._spawn(self._byes.resend(bye, call.transport, call.source_addr))
        return True

    def _on_cancel(self, request: SipRequest) -> None:
        """The intercom gave up before we answered: the stack has sent 200 and 487 (and
        ended the dialog), and a call still being answered stops there (``_answer``
        looks after its awaits). One we answered never gets here (``_settled``)."""
        state = self._call
        if state is not None and state.press is None and state.sip.call_id == request.call_id:
            self._call = None
            log.info("lane.sip.cancelled device=%s call=%s", self.name, request.call_id)

    async def _start_media(self, state: _Call, reply: Answer) -> None:
        state.payload_type = reply.payload_type
        if reply.remote is None or reply.payload_type is None:
            return  # the stream was refused: a call without sound
        rtp = await IntercomRtp.open(
            (self.bind[0], state.port), reply.remote, reply.payload_type, self.rtp_timeout_s
        )
        rtp.on_audio = lambda pcm, _timestamp: self.audio.heard(pcm)
        self.audio.connect(rtp.send_audio_pcm_auto)
        state.rtp = rtp
        self._spawn(self._end_when_silent(state, rtp))

    async def _end_when_silent(self, state: _Call, rtp: IntercomRtp) -> None:
        """End the call as its BYE would once the intercom has sent nothing for
        ``rtp_timeout_s``, and say BYE to it, in case it only went deaf."""
        await rtp.until_silent()
        if self._call is not state or state.rtp is not rtp:
            return  # the call ended, or its media moved, meanwhile
        log.warning(
            "lane.sip.rtp_timeout device=%s call=%s silent_s=%g",
            self.name,
            state.sip.call_id,
            self.rtp_timeout_s,
        )
        self._hang_up(state.sip)
        self._on_gone(state.sip, "rtp_timeout")

    async def _close_media(self, state: _Call, *, release: bool = True) -> None:
        rtp, state.rtp = state.rtp, None
        if rtp is not None:
            self.audio.disconnect(rtp.send_audio_pcm_auto)
            await rtp.close()
        if release and state.port:
            await self._ports.release(state.port)

    async def _watch(self, transport: UdpSipTransport, emit: Emit) -> None:
        """OPTIONS to the intercom every ``keepalive_s``: unanswered within
        ``answer_s``, ``intercom_unregistered`` is raised. Then it is asked again at
        the backoff's pace, or at once when anything is heard from it (an OPTIONS or
        REGISTER of its own, a call), and its answer clears the fault."""
        backoff = self.backoff()
        latch = FaultLatch(emit, DeviceFault.INTERCOM_UNREGISTERED, self.name)
        while True:
            if await self._ping(transport):
                if latch.detail is not None:
                    backoff.reset()
                latch.clear()
                await asyncio.sleep(self.keepalive_s)  # the keepalive's cadence
                continue
            latch.raise_(
                f"the intercom at {self.intercom[0]}:{self.intercom[1]} "
                f"did not answer OPTIONS within {self.answer_s:g} s"
            )
            self._heard.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), backoff.next())

    async def _ping(self, transport: UdpSipTransport) -> bool:
        """One OPTIONS transaction, resent at RFC 3261's timer E; whether the
        intercom answered (any status: a 404 or 405 is an intercom alive)."""
        request = options((self._local_ip, self.bind[1]), self.intercom)
        timer = TimerE(self.t1_s, T2, self.answer_s)
        self._heard.clear()
        while (wait := timer.next()) is not None:
            transport.send(request, self.intercom)
            try:
                await asyncio.wait_for(self._heard.wait(), wait)
                return True
            except TimeoutError:
                continue
        return False
