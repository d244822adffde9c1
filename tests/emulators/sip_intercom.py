"""A SIP intercom (a 2N or DS-KV door station in peer-to-peer mode) that dials the lane.

Written from RFC 3261 (SIP over UDP: INVITE with its retransmissions, ACK, BYE,
CANCEL (§9.1), in-dialog re-INVITE, OPTIONS answered, 481 to a BYE for a call it no
longer has (§15.1.2)), RFC 4566/3264 (a G.711 offer, a stream
turned off with ``m=audio 0``) and RFC 3550 (RTP, 20 ms of G.711 per packet at the
real-time pace an intercom keeps), independently of the stack the lane uses, so the
two are checked against the RFCs and not against each other. G.711 is FFmpeg's.

Faults a test injects: ``hang_up`` (BYE), ``give_up`` (CANCEL right behind the INVITE,
or crossing the 200 OK), ``reinvite`` (new RTP port, or audio off),
an offer with ``m=audio 0``, ``silence`` (RTP of zeros), ``deaf`` (OPTIONS go
unanswered, as from an intercom that is unplugged), ``drop_byes`` (the first N BYEs
lost on the LAN: received, never answered), ``ignore_byes`` (no BYE ever answered), ``trying_byes``
(each BYE answered 100 Trying and no more, RFC 3261 §17.2.2), a call from another
address.
"""

from __future__ import annotations

import asyncio
import contextlib
import secrets
import struct
from dataclasses import dataclass, field
from typing import Literal

import av
import numpy as np
import numpy.typing as npt

from media.lane.tones import find_bursts

RATE = 8000
FRAME = 160  # 20 ms
T1 = 0.5
LAWS = {"PCMU": (0, "pcm_mulaw"), "PCMA": (8, "pcm_alaw")}
# Offered by some door stations first or alone; the lane takes only G.711.
WIDEBAND = {"G722": 9}


@dataclass
class Message:
    """A SIP message as the wire had it: start line, headers (lower-case names, every
    value in order), body."""

    start: str
    headers: dict[str, list[str]]
    body: str

    def header(self, name: str) -> str:
        return self.headers[name][0]

    @property
    def status(self) -> int | None:
        return int(self.start.split()[1]) if self.start.startswith("SIP/2.0 ") else None

    @property
    def method(self) -> str:
        return self.start.split()[0]

    @property
    def cseq(self) -> tuple[int, str]:
        number, method = self.header("cseq").split()
        return int(number), method


def parse(data: bytes) -> Message:
    head, _, body = data.decode().partition("\r\n\r\n")
    start, *lines = head.split("\r\n")
    headers: dict[str, list[str]] = {}
    for line in lines:
        name, _, value = line.partition(":")
        headers.setdefault(name.strip().lower(), []).append(value.strip())
    return Message(start, headers, body)


def offer(host: str, rtp_port: int, law: str, *, version: int = 1) -> str:
    payload_type = LAWS[law][0] if law in LAWS else WIDEBAND[law]
    return (
        f"v=0\r\no=door 4711 {version} IN IP4 {host}\r\ns=Door\r\nc=IN IP4 {host}\r\n"
        f"t=0 0\r\nm=audio {rtp_port} RTP/AVP {payload_type} 101\r\n"
        f"a=rtpmap:{payload_type} {law}/8000\r\na=rtpmap:101 telephone-event/8000\r\n"
        "a=fmtp:101 0-15\r\na=ptime:20\r\na=sendrecv\r\n"
    )


def media_of(sdp: str) -> tuple[str, int, int | None]:
    """The answer's audio: address, port (0: refused) and first payload type."""
    host = ""
    for line in sdp.splitlines():
        if line.startswith("c=IN IP4 "):
            host = line.split()[2]
        if line.startswith("m=audio "):
            parts = line.split()
            formats = parts[3:]
            return host, int(parts[1]), int(formats[0]) if formats else None
    raise AssertionError(f"no m=audio in the answer: {sdp!r}")


class _Wire(asyncio.DatagramProtocol):
    def __init__(self, inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]]) -> None:
        self.inbox = inbox

    def datagram_received(self, data: bytes, addr: tuple[str, int]) -> None:
        self.inbox.put_nowait((data, addr))


@dataclass
class Dialog:
    call_id: str
    local_tag: str
    remote_tag: str = ""
    cseq: int = 1
    contact: tuple[str, int] | None = None
    answer: str = ""


@dataclass
class GaveUp:
    """A call the station gave up on: the final answers to its INVITE and its CANCEL,
    and to the BYE it sent when the lane's 200 OK came anyway."""

    invite: Message
    cancel: Message
    bye: Message | None


@dataclass
class Heard:
    """The G.711 the intercom received, decoded, per RTP port."""

    pcm: dict[int, list[npt.NDArray[np.int16]]] = field(default_factory=dict)
    changed: asyncio.Event = field(default_factory=asyncio.Event)

    def samples(self, port: int) -> npt.NDArray[np.int16]:
        chunks = self.pcm.get(port, [])
        return np.concatenate(chunks) if chunks else np.zeros(0, np.int16)


class SipIntercom:
    """The intercom. ``start()`` binds its SIP port; ``call()`` presses its button."""

    def __init__(
        self,
        lane: tuple[str, int],
        *,
        host: str = "127.0.0.1",
        law: str = "PCMU",
        tone_hz: float = 700.0,
    ) -> None:
        self.lane = lane
        self.host = host
        self.law = law
        self.tone_hz = tone_hz
        self.silence = False
        self.deaf = False
        self.drop_byes = 0
        self.ignore_byes = False
        self.trying_byes = False
        self.bye_came = asyncio.Event()
        self.options_seen = 0
        self.pinged = asyncio.Event()
        self.lane_hung_up = asyncio.Event()
        self.received: list[Message] = []  # every request the lane sent, as it came
        self.heard = Heard()
        self.dialog: Dialog | None = None
        self._inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        self._responses: asyncio.Queue[Message] = asyncio.Queue()
        self._sip: asyncio.DatagramTransport | None = None
        self._rtp: dict[int, asyncio.DatagramTransport] = {}
        self._tasks: set[asyncio.Task[None]] = set()
        self._sender: asyncio.Task[None] | None = None
        self.port = 0
        self.rtp_port = 0  # where the call's audio is received now; 0 while it is off

    async def start(self) -> None:
        loop = asyncio.get_running_loop()
        self._sip, _ = await loop.create_datagram_endpoint(
            lambda: _Wire(self._inbox), local_addr=(self.host, 0)
        )
        self.port = self._sip.get_extra_info("sockname")[1]
        self._spawn(self._serve())

    async def close(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        for transport in [*self._rtp.values(), self._sip]:
            if transport is not None:
                transport.close()

    def _spawn(self, work: object) -> None:
        assert asyncio.iscoroutine(work)
        task = asyncio.create_task(work)
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    # --- SIP ---

    async def _serve(self) -> None:
        while True:
            data, addr = await self._inbox.get()
            message = parse(data)
            if message.status is not None:
                await self._responses.put(message)
                continue
            self.received.append(message)
            if message.method == "OPTIONS":
                self.options_seen += 1
                self.pinged.set()
                if not self.deaf:
                    self._reply(message, addr, 200, "OK")
            elif message.method == "BYE":
                self.bye_came.set()
                if self.trying_byes:
                    self._reply(message, addr, 100, "Trying")
                    continue
                if self.ignore_byes or self.drop_byes > 0:
                    self.drop_byes -= 1
                    continue
                dialog = self.dialog
                if dialog is None or message.header("call-id") != dialog.call_id:
                    # It hung up first, and the lane's BYE crossed its own.
                    self._reply(message, addr, 481, "Call/Transaction Does Not Exist")
                    continue
                self._reply(message, addr, 200, "OK")
                self._stop_sending()
                self.dialog = None
                self.lane_hung_up.set()
            elif message.method == "INVITE":
                self._reply(message, addr, 488, "Not Acceptable Here")

    def _reply(self, request: Message, addr: tuple[str, int], status: int, reason: str) -> None:
        lines = [f"SIP/2.0 {status} {reason}"]
        lines += [f"Via: {via}" for via in request.headers["via"]]
        to = request.header("to")
        if ";tag=" not in to:
            to += f";tag={secrets.token_hex(4)}"
        lines += [
            f"From: {request.header('from')}",
            f"To: {to}",
            f"Call-ID: {request.header('call-id')}",
            f"CSeq: {request.header('cseq')}",
            "Content-Length: 0",
        ]
        self._send("\r\n".join(lines) + "\r\n\r\n", addr)

    def _send(self, text: str, addr: tuple[str, int] | None = None) -> None:
        assert self._sip is not None
        self._sip.sendto(text.encode(), addr or self.lane)

    def _request(
        self, method: str, dialog: Dialog, *, body: str = "", branch: str | None = None
    ) -> str:
        branch = branch or "z9hG4bK" + secrets.token_hex(6)
        to = f"<sip:lane@{self.lane[0]}:{self.lane[1]}>"
        if dialog.remote_tag:
            to += f";tag={dialog.remote_tag}"
        lines = [
            f"{method} sip:lane@{self.lane[0]}:{self.lane[1]} SIP/2.0",
            f"Via: SIP/2.0/UDP {self.host}:{self.port};branch={branch};rport",
            "Max-Forwards: 70",
            f"From: <sip:door@{self.host}:{self.port}>;tag={dialog.local_tag}",
            f"To: {to}",
            f"Call-ID: {dialog.call_id}",
            f"CSeq: {dialog.cseq} {method}",
            f"Contact: <sip:door@{self.host}:{self.port}>",
            "User-Agent: DoorStation/2.0",
        ]
        if body:
            lines.append("Content-Type: application/sdp")
        lines.append(f"Content-Length: {len(body.encode())}")
        return "\r\n".join(lines) + "\r\n\r\n" + body

    async def _transaction(self, text: str, dialog: Dialog, method: str) -> Message:
        """Send ``text``, resent at timer A/E until anything answers, and return the
        final response (1xx skipped); ``TimeoutError`` at timer B/F, 64*T1."""
        interval = T1
        provisional = False
        async with asyncio.timeout(64 * T1):
            return await self._answered(text, dialog, method, interval, provisional)

    async def _answered(
        self, text: str, dialog: Dialog, method: str, interval: float, provisional: bool
    ) -> Message:
        while True:
            if not provisional:
                self._send(text)
            try:
                response = await asyncio.wait_for(self._responses.get(), interval)
            except TimeoutError:
                interval = min(2 * interval, 4.0)
                continue
            if (
                response.cseq != (dialog.cseq, method)
                or response.header("call-id") != dialog.call_id
            ):
                continue  # a 200 OK resent before our ACK reached the lane
            if response.status is not None and response.status >= 200:
                return response
            provisional = True

    def _ack(self, dialog: Dialog, response: Message, branch: str) -> None:
        """ACK a final answer: a 2xx's end to end to its Contact with a branch of its
        own, an error's hop by hop with the INVITE's branch (RFC 3261 §17.1.1.3)."""
        if response.status == 200:
            self._send(self._request("ACK", dialog), dialog.contact)
        else:
            self._send(self._request("ACK", dialog, branch=branch))

    async def call(self, *, audio_off: bool = False, law: str | None = None) -> Message:
        """Press the button: INVITE with a G.711 offer (``m=audio 0`` with
        ``audio_off``), ACK the final answer; on 200 OK, start the RTP."""
        rtp_port = 0 if audio_off else await self._open_rtp()
        dialog = Dialog(
            call_id=f"{secrets.token_hex(8)}@{self.host}", local_tag=secrets.token_hex(4)
        )
        body = offer(self.host, rtp_port, law or self.law)
        branch = "z9hG4bK" + secrets.token_hex(6)
        text = self._request("INVITE", dialog, body=body, branch=branch)
        response = await self._transaction(text, dialog, "INVITE")
        dialog.remote_tag = _tag(response.header("to"))
        dialog.contact = _contact(response, self.lane)
        self._ack(dialog, response, branch)
        if response.status == 200:
            dialog.answer = response.body
            self.dialog = dialog
            self._follow_answer(rtp_port)
        return response

    async def give_up(self, *, crossing: bool = False) -> GaveUp:
        """Press the button and give up: CANCEL right behind the INVITE, before the
        lane can have answered, or with ``crossing`` once its 200 OK is in, as a CANCEL
        sent just before the 200 arrived. A 200 OK that comes anyway is ACKed and the
        call ended with BYE (RFC 3261 §9.1); a 487 is ACKed with the INVITE's branch."""
        dialog = Dialog(
            call_id=f"{secrets.token_hex(8)}@{self.host}", local_tag=secrets.token_hex(4)
        )
        branch = "z9hG4bK" + secrets.token_hex(6)
        invite = self._request(
            "INVITE", dialog, body=offer(self.host, await self._open_rtp(), self.law), branch=branch
        )
        # The INVITE's Request-URI, Call-ID, From, To, CSeq number and Via (§9.1).
        cancel = self._request("CANCEL", dialog, branch=branch)
        if crossing:
            finals = await self._finals(dialog, {"INVITE": invite})
            finals |= await self._finals(dialog, {"CANCEL": cancel})
        else:
            finals = await self._finals(dialog, {"INVITE": invite, "CANCEL": cancel})
        answer = finals["INVITE"]
        dialog.remote_tag = _tag(answer.header("to"))
        dialog.contact = _contact(answer, self.lane)
        self._ack(dialog, answer, branch)
        bye = None
        if answer.status == 200:
            dialog.cseq += 1
            bye = (await self._finals(dialog, {"BYE": self._request("BYE", dialog)}))["BYE"]
        return GaveUp(answer, finals["CANCEL"], bye)

    async def _finals(self, dialog: Dialog, requests: dict[str, str]) -> dict[str, Message]:
        """Send ``requests`` (method: text, in that order) in one dialog and wait for
        the final answer to each, resending at timer A/E whichever has had no answer
        yet; a request answered provisionally is not resent."""
        finals: dict[str, Message] = {}
        heard: set[str] = set()
        interval = T1
        async with asyncio.timeout(64 * T1):
            while len(finals) < len(requests):
                for method, text in requests.items():
                    if method not in heard:
                        self._send(text)
                try:
                    async with asyncio.timeout(interval):
                        while len(finals) < len(requests):
                            response = await self._responses.get()
                            number, method = response.cseq
                            if (
                                method not in requests
                                or number != dialog.cseq
                                or response.header("call-id") != dialog.call_id
                            ):
                                continue
                            heard.add(method)
                            if response.status is not None and response.status >= 200:
                                finals.setdefault(method, response)
                except TimeoutError:
                    interval = min(2 * interval, 4.0)
        return finals

    async def reinvite(self, *, audio_off: bool = False, law: str | None = None) -> Message:
        """A re-INVITE in the call: audio to a new RTP port (in ``law``), or the audio
        turned off."""
        dialog = self.dialog
        assert dialog is not None, "no call to re-INVITE in"
        rtp_port = 0 if audio_off else await self._open_rtp()
        dialog.cseq += 1
        body = offer(self.host, rtp_port, law or self.law, version=dialog.cseq)
        branch = "z9hG4bK" + secrets.token_hex(6)
        text = self._request("INVITE", dialog, body=body, branch=branch)
        response = await self._transaction(text, dialog, "INVITE")
        self._ack(dialog, response, branch)
        if response.status == 200:
            dialog.answer = response.body
            self._follow_answer(rtp_port)
        return response

    async def hang_up(self) -> Message:
        dialog = self.dialog
        assert dialog is not None, "no call to hang up"
        self._stop_sending()
        dialog.cseq += 1
        self.dialog = None
        return await self._transaction(self._request("BYE", dialog), dialog, "BYE")

    async def ping(self) -> Message:
        """OPTIONS to the lane. It reads the station's requests in order, so once this
        is answered it has read all sent before (the ACK of a call, say)."""
        dialog = Dialog(f"{secrets.token_hex(8)}@{self.host}", local_tag=secrets.token_hex(4))
        return await self._transaction(self._request("OPTIONS", dialog), dialog, "OPTIONS")

    async def register(self, expires: int) -> Message:
        """REGISTER with the lane as if it were the intercom's SIP server."""
        dialog = Dialog(f"{secrets.token_hex(8)}@{self.host}", local_tag=secrets.token_hex(4))
        text = self._request("REGISTER", dialog).replace(
            "Content-Length: 0", f"Expires: {expires}\r\nContent-Length: 0"
        )
        return await self._transaction(text, dialog, "REGISTER")

    async def call_from(self, host: str) -> Message:
        """An INVITE from another address on the LAN, as another device would send it."""
        stranger = SipIntercom(self.lane, host=host, law=self.law)
        await stranger.start()
        try:
            dialog = Dialog(call_id=f"{secrets.token_hex(8)}@{host}", local_tag="x1")
            text = stranger._request("INVITE", dialog, body=offer(host, 4000, self.law))
            return await stranger._transaction(text, dialog, "INVITE")
        finally:
            await stranger.close()

    # --- RTP ---

    async def _open_rtp(self) -> int:
        loop = asyncio.get_running_loop()
        inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]] = asyncio.Queue()
        transport, _ = await loop.create_datagram_endpoint(
            lambda: _Wire(inbox), local_addr=(self.host, 0)
        )
        port: int = transport.get_extra_info("sockname")[1]
        self._rtp[port] = transport
        self._spawn(self._listen_rtp(port, inbox))
        return port

    async def _listen_rtp(
        self, port: int, inbox: asyncio.Queue[tuple[bytes, tuple[str, int]]]
    ) -> None:
        while True:
            packet, _ = await inbox.get()
            self._hear(port, packet)

    def _hear(self, port: int, packet: bytes) -> None:
        if len(packet) <= 12 or packet[0] >> 6 != 2:
            return
        payload_type = packet[1] & 0x7F
        law = next((name for name, (pt, _) in LAWS.items() if pt == payload_type), None)
        if law is None:
            return
        decoder = _codec(law, "r")
        for frame in decoder.decode(av.Packet(packet[12:])):
            self.heard.pcm.setdefault(port, []).append(
                frame.to_ndarray().reshape(-1).astype(np.int16)
            )
        self.heard.changed.set()

    async def wait_heard(
        self, port: int, samples: int, timeout: float = 10.0
    ) -> npt.NDArray[np.int16]:
        async with asyncio.timeout(timeout):
            while len(self.heard.samples(port)) < samples:
                self.heard.changed.clear()
                await self.heard.changed.wait()
        return self.heard.samples(port)

    async def wait_tone(self, hz: float, timeout: float = 20.0) -> None:
        """Wait until the call's audio, as received now, has carried a burst of ``hz``."""
        async with asyncio.timeout(timeout):
            while not find_bursts(self.heard.samples(self.rtp_port), RATE, hz):
                self.heard.changed.clear()
                await self.heard.changed.wait()

    def vanish(self) -> None:
        """The station loses power mid-call: its RTP stops, and it says no BYE."""
        self._stop_sending()

    async def send_rtp(self, to: tuple[str, int]) -> None:
        """This station's tone sent to ``to`` outside any call of its own, as a stranger
        on the LAN who found a lane's RTP port would, until closed."""
        port = await self._open_rtp()
        self._spawn(self._send_rtp(port, to, LAWS[self.law][0]))

    def _follow_answer(self, rtp_port: int) -> None:
        self._stop_sending()
        self.rtp_port = rtp_port
        assert self.dialog is not None
        host, port, payload_type = media_of(self.dialog.answer)
        if port and rtp_port and payload_type is not None:
            self._sender = asyncio.create_task(self._send_rtp(rtp_port, (host, port), payload_type))

    def _stop_sending(self) -> None:
        if self._sender is not None:
            self._sender.cancel()
            self._sender = None

    async def _send_rtp(self, port: int, to: tuple[str, int], payload_type: int) -> None:
        """20 ms of the tone (or of silence) per packet at real-time pace, as a door
        station's codec sends it."""
        law = next(name for name, (pt, _) in LAWS.items() if pt == payload_type)
        encoder = _codec(law, "w")
        encoder.format = "s16"
        ssrc = secrets.randbits(32)
        loop = asyncio.get_running_loop()
        start = loop.time()
        seq = 0
        while True:
            due = start + seq * FRAME / RATE - loop.time()
            if due > 0:
                await asyncio.sleep(due)  # the codec's real-time pace
            t = (np.arange(FRAME) + seq * FRAME) / RATE
            level = 0.0 if self.silence else 0.4
            pcm = (np.sin(2 * np.pi * self.tone_hz * t) * level * 32767).astype(np.int16)
            frame = av.AudioFrame.from_ndarray(pcm.reshape(1, -1), format="s16", layout="mono")
            frame.sample_rate = RATE
            payload = b"".join(bytes(packet) for packet in encoder.encode(frame))
            header = struct.pack("!BBHII", 0x80, payload_type, seq & 0xFFFF, seq * FRAME, ssrc)
            with contextlib.suppress(OSError):
                self._rtp[port].sendto(header + payload, to)
            seq += 1


def _codec(law: str, mode: Literal["r", "w"]) -> av.AudioCodecContext:
    context = av.AudioCodecContext.create(LAWS[law][1], mode)
    assert isinstance(context, av.AudioCodecContext)
    context.sample_rate = RATE
    context.layout = "mono"
    return context


def _tag(header: str) -> str:
    _, _, tag = header.partition(";tag=")
    return tag.split(";")[0]


def _contact(response: Message, fallback: tuple[str, int]) -> tuple[str, int]:
    if "contact" not in response.headers:
        return fallback
    uri = response.header("contact").strip("<>").split(";")[0].removeprefix("sip:")
    host, _, port = uri.rpartition("@")[2].partition(":")
    return host, int(port or 5060)
