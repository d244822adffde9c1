"""The SIP intercom's pure parts, without sockets: the lane's answer to an intercom's
SDP offer, its table in the lane file, G.711 PCM <-> Opus, and what the lane says to
the intercom outside a call."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from aiosipua import SipMessage, SipRequest
from aiosipua.sdp import parse_sdp, serialize_sdp

from gates.hardware.options import DeviceOptions, LaneFileError
from gates.hardware.parts import Device
from gates.hardware.pushes import PushListener
from gates.hardware.sip import build
from gates.hardware.sip.offers import OfferRefused, answer
from gates.hardware.sip.requests import forbidden, options, registered
from media.lane.g711 import PHONE_FRAME, PHONE_RATE, OpusToPhone, PhoneToOpus
from media.lane.tones import RATE
from media.lane.voice import decode_pcm, opus_decoder
from tests.emulators.sip_intercom import offer
from tests.test_sip_intercom import peak_hz

VIDEO_AND_AUDIO_OFF = (
    "v=0\r\no=door 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
    "m=audio 0 RTP/AVP 8 0\r\na=rtpmap:8 PCMA/8000\r\n"
    "m=video 9000 RTP/AVP 96\r\na=rtpmap:96 H264/90000\r\n"
)


def test_a_pcmu_offer_is_answered_in_pcmu_with_our_address() -> None:
    reply = answer(
        parse_sdp(offer("10.0.0.9", 7078, "PCMU")), "10.0.0.2", 40000, "77", 0, "10.0.0.9"
    )

    assert reply.payload_type == 0
    assert reply.remote == ("10.0.0.9", 7078)
    text = serialize_sdp(reply.sdp)
    assert "c=IN IP4 10.0.0.2" in text
    assert "m=audio 40000 RTP/AVP 0" in text
    assert "o=- 77 0 IN IP4 10.0.0.2" in text


def test_a_pcma_offer_is_answered_in_pcma() -> None:
    reply = answer(
        parse_sdp(offer("10.0.0.9", 7078, "PCMA")), "10.0.0.2", 40000, "77", 3, "10.0.0.9"
    )

    assert reply.payload_type == 8
    assert "o=- 77 3 IN IP4" in serialize_sdp(reply.sdp)


def test_audio_off_is_refused_stream_by_stream_as_offered() -> None:
    reply = answer(parse_sdp(VIDEO_AND_AUDIO_OFF), "10.0.0.2", 40000, "77", 1, "10.0.0.9")

    assert reply.payload_type is None and reply.remote is None
    lines = serialize_sdp(reply.sdp).splitlines()
    # RFC 3264 §6: as many m= lines as offered, in order, each refused with port 0.
    assert [line for line in lines if line.startswith("m=")] == [
        "m=audio 0 RTP/AVP 8 0",
        "m=video 0 RTP/AVP 96",
    ]


def test_an_offer_on_hold_the_old_way_is_answered_without_sound() -> None:
    """``c=IN IP4 0.0.0.0`` (RFC 2543's hold) is no address to send to, nor a forged
    one: the call keeps going, silent until the next offer."""
    reply = answer(
        parse_sdp(offer("0.0.0.0", 7078, "PCMU")), "10.0.0.2", 40000, "77", 2, "10.0.0.9"
    )
    assert reply.remote is None and reply.payload_type == 0


@pytest.mark.parametrize(
    ("sdp", "problem"),
    [
        (None, "without an SDP offer"),
        (
            "v=0\r\no=d 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
            "m=video 9000 RTP/AVP 96\r\n",
            "no audio stream",
        ),
        (
            "v=0\r\no=d 1 1 IN IP4 10.0.0.9\r\ns=-\r\nc=IN IP4 10.0.0.9\r\nt=0 0\r\n"
            "m=audio 7078 RTP/AVP 9\r\na=rtpmap:9 G722/8000\r\n",
            "No matching codec",
        ),
        (
            # From the intercom's address (or forged as it), but its audio elsewhere.
            "v=0\r\no=d 1 1 IN IP4 10.0.0.66\r\ns=-\r\nc=IN IP4 10.0.0.66\r\nt=0 0\r\n"
            "m=audio 7078 RTP/AVP 0\r\na=rtpmap:0 PCMU/8000\r\n",
            "not the intercom's address",
        ),
    ],
)
def test_an_offer_we_cannot_take_is_refused_with_488(sdp: str | None, problem: str) -> None:
    with pytest.raises(OfferRefused) as refused:
        answer(parse_sdp(sdp) if sdp else None, "10.0.0.2", 40000, "77", 0, "10.0.0.9")
    assert refused.value.status == 488
    assert problem in refused.value.detail


class Alone:
    """A workshop with no other device and no push listener: an intercom needs
    neither, and asking for one fails the test."""

    def device(self, name: str) -> Device:
        raise AssertionError(f"the intercom asked for device {name!r}")

    def listener(self, address: str) -> PushListener:
        raise AssertionError(f"the intercom asked for a push listener on {address}")


def table_of(**table: object) -> DeviceOptions:
    return DeviceOptions(Path("lane.toml"), "intercom", {"family": "sip", **table})


def test_the_lane_file_table_builds_the_intercom() -> None:
    table = table_of(intercom="192.168.1.60", listen="0.0.0.0:5062", rtp_ports="41000-41009")
    device = build(table, Alone())

    assert device.name == "intercom"
    assert device.intercom == ("192.168.1.60", 5060)
    assert device.bind == ("0.0.0.0", 5062)
    assert (device.keepalive_s, device.answer_s, device.rtp_timeout_s) == (30.0, 5.0, 30.0)
    assert table.unused() == []
    assert build(table_of(intercom="10.0.0.9", rtp_timeout=4), Alone()).rtp_timeout_s == 4.0


@pytest.mark.parametrize(
    ("table", "problem"),
    [
        ({}, "intercom: missing"),
        ({"intercom": "door.lan"}, "must be an IPv4 address"),
        ({"intercom": "0.0.0.0"}, "the device's own address"),
        ({"intercom": "10.0.0.9:70000"}, "from 1 to 65535"),
        ({"intercom": "10.0.0.9", "rtp_ports": "41000"}, "LOW-HIGH"),
        ({"intercom": "10.0.0.9", "rtp_ports": "500-600"}, "LOW-HIGH"),
        ({"intercom": "10.0.0.9", "keepalive": 0}, "keepalive: must be from"),
        ({"intercom": "10.0.0.9", "rtp_timeout": 0.2}, "rtp_timeout: must be from"),
    ],
)
def test_a_wrong_table_names_the_key_and_the_problem(
    table: dict[str, object], problem: str
) -> None:
    with pytest.raises(LaneFileError, match=problem):
        build(table_of(**table), Alone())


def test_phone_pcm_becomes_opus_and_opus_becomes_phone_pcm() -> None:
    seconds = 1.0
    t = np.arange(int(PHONE_RATE * seconds)) / PHONE_RATE
    phone = (np.sin(2 * np.pi * 700 * t) * 0.4 * 32767).astype("<i2")
    to_opus = PhoneToOpus()
    units = [
        unit
        for n in range(0, len(phone), PHONE_FRAME)
        for unit in to_opus.push(phone[n : n + PHONE_FRAME].tobytes())
    ]
    assert [unit.seq for unit in units] == list(range(len(units)))
    assert len(units) >= 45  # 20 ms each, less what the resampler still holds

    decoder = opus_decoder()
    wide = np.concatenate([decode_pcm(decoder, unit.data) for unit in units])
    assert abs(peak_hz(wide[RATE // 10 :], RATE) - 700) < 10

    to_phone = OpusToPhone()
    frames = [frame for unit in units for frame in to_phone.push(unit.data)]
    assert {len(frame) for frame in frames} == {2 * PHONE_FRAME}
    narrow = np.frombuffer(b"".join(frames), dtype="<i2")
    assert abs(peak_hz(narrow[PHONE_RATE // 10 :], PHONE_RATE) - 700) < 10


def sip_request(text: str) -> SipRequest:
    message = SipMessage.parse(text.replace("\n", "\r\n").encode())
    assert isinstance(message, SipRequest)
    return message


REGISTER = """REGISTER sip:10.0.0.2 SIP/2.0
Via: SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKr1
From: <sip:door@10.0.0.2>;tag=d1
To: <sip:door@10.0.0.2>
Call-ID: reg-1@10.0.0.9
CSeq: 7 REGISTER
Contact: <sip:door@10.0.0.9:5060>{contact}
{expires}Content-Length: 0

"""


@pytest.mark.parametrize(
    ("contact", "expires", "granted", "binding"),
    [
        ("", "Expires: 600\n", "600", "<sip:door@10.0.0.9:5060>;expires=600"),
        (";expires=90", "Expires: 600\n", "90", "<sip:door@10.0.0.9:5060>;expires=90"),
        ("", "Expires: 86400\n", "3600", "<sip:door@10.0.0.9:5060>;expires=3600"),
        ("", "", "3600", "<sip:door@10.0.0.9:5060>;expires=3600"),
        ("", "Expires: 0\n", "0", None),
    ],
)
def test_a_register_is_taken_for_what_it_asks_up_to_an_hour(
    contact: str, expires: str, granted: str, binding: str | None
) -> None:
    reply = registered(sip_request(REGISTER.format(contact=contact, expires=expires)))

    assert reply.status_code == 200
    assert reply.get_header("expires") == granted
    assert reply.get_header("contact") == binding
    assert reply.get_header("cseq") == "7 REGISTER"
    assert reply.get_header("call-id") == "reg-1@10.0.0.9"


def test_a_stranger_is_answered_403_in_its_own_transaction() -> None:
    reply = forbidden(sip_request(REGISTER.format(contact="", expires="")))

    assert (reply.status_code, reply.reason_phrase) == (403, "Forbidden")
    assert reply.get_header("via") == "SIP/2.0/UDP 10.0.0.9:5060;branch=z9hG4bKr1"
    assert ";tag=" in (reply.get_header("to") or "")


def test_the_keepalive_is_an_options_out_of_any_dialog() -> None:
    request = options(("10.0.0.2", 5060), ("10.0.0.9", 5062))

    assert (request.method, request.uri) == ("OPTIONS", "sip:10.0.0.9:5062")
    assert (request.get_header("via") or "").startswith("SIP/2.0/UDP 10.0.0.2:5060;branch=")
    assert ";tag=" not in (request.get_header("to") or "")
    assert request.get_header("contact") == "<sip:seat-lane@10.0.0.2:5060>"
