"""A SIP intercom at the lane (2N, Hikvision DS-KV, Dahua VTO, any that calls by IP).

The lane agent is the SIP endpoint the intercom calls on the lane's LAN: its call
button dials the agent directly (peer to peer, no PBX). An INVITE from the intercom is
the lane's ``call`` event; the agent answers it at once, and the call's G.711 audio
becomes the lane's sound (``CallAudio``, a ``gates.hardware.parts.LaneAudio``).
Signalling, transactions and SDP negotiation are ``aiosipua``'s, RTP and G.711
``aiortp``'s; what is here is the lane's policy: one call at a time, only the
configured intercom may call, and the intercom is checked with OPTIONS so a dead or
unplugged one is a lane fault.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import socket
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

from aiortp import PortAllocator, RTPSession
from aiosipua import (
    Dialog,
    DialogState,
    IncomingCall,
    SipRequest,
    SipResponse,
    SipUAS,
    UdpSipTransport,
)
from aiosipua.utils import generate_call_id, generate_tag

from gates.backoff import Backoff
from gates.hardware.parts import DeviceFault, Emit
from gates.hardware.sip.audio import CallAudio
from gates.hardware.sip.offers import Answer, OfferRefused, answer
from gates.lane.drivers import CallPressed, FaultRaised

log = logging.getLogger("seat.lane")

USER_AGENT = "seat-lane"
T1 = 0.5  # RFC 3261's round-trip estimate: the first retransmission of an OPTIONS
T2 = 4.0  # and the longest gap between retransmissions
MAX_EXPIRES = 3600  # the longest registration taken, RFC 3261's default


class _Datagrams(asyncio.DatagramProtocol):
    def __init__(self, deliver: Callable[[bytes, tuple[str, int]], None]) -> None:
        self.deliver = deliver

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.deliver(data, (str(addr[0]), int(addr[1])))


class _UdpTransport(UdpSipTransport):
    """aiosipua's UDP transport, bound without its protocol's check that the socket is
    an ``asyncio.DatagramTransport``: CPython before 3.12 and uvloop give a transport
    that is not one, so the check logs an error at every start although the transport
    works (the endpoint's result is what it keeps)."""

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._udp_transport, _ = await loop.create_datagram_endpoint(
            lambda: _Datagrams(self._dispatch), local_addr=self.local_addr
        )


@dataclass
class _Call:
    """The call that is up: its dialog, the SDP origin of our answers, its RTP."""

    sip: IncomingCall
    session: str
    port: int
    version: int = 0
    rtp: RTPSession | None = None
    payload_type: int | None = None


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
        backoff: Callable[[], Backoff] = Backoff,
    ) -> None:
        self.name = name
        self.bind = listen
        self.intercom = intercom
        self.keepalive_s = keepalive_s
        self.answer_s = answer_s
        self.backoff = backoff
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
        self._local_ip = _local_ip(self.bind[0], self.intercom)
        transport = _UdpTransport(local_addr=self.bind)
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
                call.sip.hangup()
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
            if isinstance(message, SipRequest) and message.method == "REGISTER":
                transport.send_reply(_registered(message))
            elif isinstance(message, SipRequest):
                route(message, addr)
            return
        if isinstance(message, SipRequest) and message.method != "ACK":
            log.warning(
                "lane.sip.refused device=%s from=%s:%d method=%s",
                self.name,
                *addr,
                message.method,
            )
            refusal = Dialog(call_id=message.call_id or "", local_tag=generate_tag())
            transport.send_reply(refusal.create_response(message, 403, "Forbidden"))

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
            if stale.sip.hangup() is None:  # not answered yet: nothing to say BYE to
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
            reply = answer(call.sdp_offer, self._local_ip, state.port, state.session, 0)
        except OfferRefused as exc:
            log.warning("lane.sip.offer_refused device=%s status=%d detail=%s", *_why(self, exc))
            self._call = None
            await self._ports.release(state.port)
            call.reject(exc.status)
            return
        await self._start_media(state, reply)
        if self._call is not state:  # cancelled or hung up while the media started
            await self._close_media(state)
            return
        call.accept(reply.sdp)
        log.info(
            "lane.sip.answered device=%s call=%s codec=%s remote=%s",
            self.name,
            call.call_id,
            reply.payload_type,
            reply.remote,
        )
        assert self._emit is not None
        self._emit(CallPressed())

    def _on_reinvite(self, call: IncomingCall) -> None:
        self._spawn(self._renegotiate(call))

    async def _renegotiate(self, call: IncomingCall) -> None:
        """A re-INVITE keeps the call: new address, new codec, or its audio turned off
        (``m=audio 0``) or on again; an offer we cannot take leaves the call as it was
        (488, RFC 3261 §14.2)."""
        state = self._call
        if state is None or state.sip.call_id != call.call_id:
            return
        try:
            reply = answer(
                call.sdp_offer, self._local_ip, state.port, state.session, state.version + 1
            )
        except OfferRefused as exc:
            log.warning("lane.sip.reoffer_refused device=%s status=%d detail=%s", *_why(self, exc))
            if call.transport is not None:
                refusal = call.dialog.create_response(call.invite, exc.status)
                call.transport.send_reply(refusal)
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
            await self._start_media(state, reply)
        call.accept(reply.sdp)
        log.info(
            "lane.sip.renegotiated device=%s call=%s codec=%s remote=%s",
            self.name,
            call.call_id,
            reply.payload_type,
            reply.remote,
        )

    def _on_gone(self, call: IncomingCall, why: str) -> None:
        """The intercom hung up (or never confirmed our answer). The lane link has no
        message for a hang-up: the console's call stays the agent's to end, and the
        intercom's next press is a new ``call``."""
        state = self._call
        if state is None or state.sip.call_id != call.call_id:
            return
        self._call = None
        log.info("lane.sip.ended device=%s call=%s by=%s", self.name, call.call_id, why)
        self._spawn(self._close_media(state))

    def _on_cancel(self, request: SipRequest) -> None:
        """The intercom gave up before we answered: the stack has sent 487, and a call
        still being answered stops there (``_answer`` looks after its awaits). A CANCEL
        that crossed our 200 OK changes nothing (RFC 3261 §9.2)."""
        state = self._call
        unanswered = state is not None and state.sip.dialog.state is DialogState.EARLY
        if state is not None and unanswered and state.sip.call_id == request.call_id:
            self._call = None
            log.info("lane.sip.cancelled device=%s call=%s", self.name, request.call_id)

    async def _start_media(self, state: _Call, reply: Answer) -> None:
        state.payload_type = reply.payload_type
        if reply.remote is None or reply.payload_type is None:
            return  # the stream was refused: a call without sound
        rtp = await RTPSession.create(
            local_addr=(self.bind[0], state.port),
            remote_addr=reply.remote,
            payload_type=reply.payload_type,
        )
        rtp.on_audio = lambda pcm, _timestamp: self.audio.heard(pcm)
        self.audio.connect(rtp.send_audio_pcm_auto)
        state.rtp = rtp

    async def _close_media(self, state: _Call, *, release: bool = True) -> None:
        rtp, state.rtp = state.rtp, None
        if rtp is not None:
            self.audio.disconnect()
            await rtp.close()
        if release and state.port:
            await self._ports.release(state.port)

    async def _watch(self, transport: UdpSipTransport, emit: Emit) -> None:
        """OPTIONS to the intercom every ``keepalive_s``: unanswered within
        ``answer_s``, ``intercom_unregistered`` is raised; anything heard from it
        (an answer, an OPTIONS of its own, a call) clears it."""
        backoff = self.backoff()
        down = False
        while True:
            if await self._ping(transport):
                if down:
                    down = False
                    backoff.reset()
                    emit(FaultRaised(DeviceFault.INTERCOM_UNREGISTERED, "", active=False))
                    log.info("lane.sip.intercom_back device=%s", self.name)
                await asyncio.sleep(self.keepalive_s)  # the keepalive's cadence
                continue
            if not down:
                down = True
                detail = (
                    f"the intercom at {self.intercom[0]}:{self.intercom[1]} "
                    f"did not answer OPTIONS within {self.answer_s:g} s"
                )
                emit(FaultRaised(DeviceFault.INTERCOM_UNREGISTERED, detail))
                log.warning("lane.sip.intercom_silent device=%s detail=%s", self.name, detail)
            self._heard.clear()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._heard.wait(), backoff.next())

    async def _ping(self, transport: UdpSipTransport) -> bool:
        """One OPTIONS transaction, resent at RFC 3261's timer E; whether the
        intercom answered (any status: a 404 or 405 is an intercom alive)."""
        local = f"{self._local_ip}:{self.bind[1]}"
        request = Dialog(
            call_id=generate_call_id(self._local_ip),
            local_tag=generate_tag(),
            local_uri=f"sip:{USER_AGENT}@{local}",
            remote_uri=f"sip:{self.intercom[0]}:{self.intercom[1]}",
        ).create_request("OPTIONS", via_host=self._local_ip, via_port=self.bind[1])
        request.set_header("Contact", f"<sip:{USER_AGENT}@{local}>")
        request.set_header("Accept", "application/sdp")
        loop = asyncio.get_running_loop()
        deadline = loop.time() + self.answer_s
        interval = T1
        self._heard.clear()
        while (left := deadline - loop.time()) > 0:
            transport.send(request, self.intercom)
            try:
                await asyncio.wait_for(self._heard.wait(), min(interval, left))
                return True
            except TimeoutError:
                interval = min(2 * interval, T2)
        return False


def _registered(request: SipRequest) -> SipResponse:
    """An intercom set to register with a SIP server may be pointed at the agent: its
    REGISTER is taken (the address check already said who it is) for as long as it
    asks, up to an hour, so it goes on to call. Its calls come by IP either way, and
    its liveness is the OPTIONS keepalive's, so the binding itself is not kept."""
    contact = request.get_header("contact") or ""
    param = re.search(r";\s*expires=(\d+)", contact)  # before Expires (RFC 3261 §10.3)
    header = request.get_header("expires") or ""
    asked = int(param[1]) if param else int(header) if header.isdigit() else MAX_EXPIRES
    granted = min(asked, MAX_EXPIRES)
    binding = Dialog(call_id=request.call_id or "", local_tag=generate_tag())
    response = binding.create_response(request, 200, "OK")
    bare = re.sub(r";\s*expires=\d+", "", contact)
    if bare and bare != "*" and granted:
        response.set_header("Contact", f"{bare};expires={granted}")
    response.set_header("Expires", str(granted))
    return response


def _why(intercom: SipIntercom, exc: OfferRefused) -> tuple[str, int, str]:
    return intercom.name, exc.status, exc.detail


def _local_ip(listen_host: str, intercom: tuple[str, int]) -> str:
    """The address the intercom reaches us at, for our SDP and Contact: the listening
    address, or when that is every address, the one the route to the intercom leaves
    from (a UDP connect sends nothing)."""
    if listen_host not in ("0.0.0.0", ""):
        return listen_host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(intercom)
        address: str = probe.getsockname()[0]
        return address
