"""SIP intercoms: the lane agent answers the intercom's calls (``intercom``)."""

from __future__ import annotations

import ipaddress

from gates.hardware.options import DeviceOptions
from gates.hardware.parts import Workshop
from gates.hardware.sip.intercom import SipIntercom
from gates.textrules import parse_count

SIP_PORT = 5060


def build(options: DeviceOptions, workshop: Workshop) -> SipIntercom:
    """The lane file's table for a SIP intercom::

    [devices.intercom]
    family = "sip"
    intercom = "192.168.1.60"       # the intercom's address (":port" if not 5060)
    listen = "0.0.0.0:5060"         # where the lane answers its calls
    rtp_ports = "40000-40019"       # RTP/RTCP port pairs for the call's audio
    keepalive = 30                  # seconds between OPTIONS to the intercom
    keepalive_timeout = 5           # unanswered this long: intercom_unregistered
    rtp_timeout = 30                # no RTP from the intercom this long: the call ends
    """
    del workshop  # an intercom hangs off no other device
    listen = _address(options, "listen", "0.0.0.0:5060", any_host=True)
    intercom = _address(options, "intercom", None, any_host=False)
    return SipIntercom(
        options.name,
        listen=listen,
        intercom=intercom,
        rtp_ports=_ports(options),
        keepalive_s=options.seconds("keepalive", 30.0, low=1.0, high=3600.0),
        answer_s=options.seconds("keepalive_timeout", 5.0, low=0.5, high=32.0),
        rtp_timeout_s=options.seconds("rtp_timeout", 30.0, low=1.0, high=3600.0),
    )


def _address(
    options: DeviceOptions, key: str, default: str | None, *, any_host: bool
) -> tuple[str, int]:
    text = options.text(key, default)
    host, _, port = text.partition(":")
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        problem = f"must be an IPv4 address with an optional :port, not {text!r}"
        raise options.fail(key, problem) from None
    if address.is_unspecified and not any_host:
        raise options.fail(key, "must be the device's own address, not 0.0.0.0")
    number = parse_count(port) if port else SIP_PORT
    if number is None or not 1 <= number <= 65535:
        raise options.fail(key, f"the port must be from 1 to 65535, not {port!r}")
    return str(address), number


def _ports(options: DeviceOptions) -> tuple[int, int]:
    text = options.text("rtp_ports", "40000-40019")
    low, _, high = (parse_count(part) for part in text.partition("-"))
    if low is None or high is None or not 1024 <= low < high <= 65535:
        raise options.fail("rtp_ports", f"must be LOW-HIGH within 1024-65535, not {text!r}")
    return low, high
