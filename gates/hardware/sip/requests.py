"""What the lane agent says to the intercom outside a call, built with the stack's
message model: the OPTIONS that checks it is there, the answer to its REGISTER, the
403 for anyone else, the 481 for a dialog that is over; and the address the intercom
reaches the agent at."""

from __future__ import annotations

import re
import socket

from aiosipua import Dialog, SipRequest, SipResponse
from aiosipua.utils import generate_call_id, generate_tag

from gates.textrules import parse_count

USER_AGENT = "seat-lane"
MAX_EXPIRES = 3600  # the longest registration taken, RFC 3261's default


def options(local: tuple[str, int], intercom: tuple[str, int]) -> SipRequest:
    """An OPTIONS out of any dialog, from ``local`` to the intercom (RFC 3261 §11)."""
    here = f"{local[0]}:{local[1]}"
    request = Dialog(
        call_id=generate_call_id(local[0]),
        local_tag=generate_tag(),
        local_uri=f"sip:{USER_AGENT}@{here}",
        remote_uri=f"sip:{intercom[0]}:{intercom[1]}",
    ).create_request("OPTIONS", via_host=local[0], via_port=local[1])
    request.set_header("Contact", f"<sip:{USER_AGENT}@{here}>")
    request.set_header("Accept", "application/sdp")
    return request


def forbidden(request: SipRequest) -> SipResponse:
    return _answer(request, 403, "Forbidden")


def no_dialog(request: SipRequest) -> SipResponse:
    """481: a request in a dialog the lane does not have (RFC 3261 §12.2.2)."""
    return _answer(request, 481, "Call/Transaction Does Not Exist")


def registered(request: SipRequest) -> SipResponse:
    """An intercom set to register with a SIP server may be pointed at the agent: its
    REGISTER is taken (the address check already said who it is) for as long as it
    asks, up to an hour, so it goes on to call. Its calls come by IP either way, and
    its liveness is the OPTIONS keepalive's, so the binding itself is not kept."""
    contact = request.get_header("contact") or ""
    param = re.search(r";\s*expires=([0-9]{1,10})", contact)  # before Expires (RFC 3261 §10.3)
    header = parse_count(request.get_header("expires") or "")
    asked = int(param[1]) if param else header if header is not None else MAX_EXPIRES
    granted = min(asked, MAX_EXPIRES)
    response = _answer(request, 200, "OK")
    bare = re.sub(r";\s*expires=[0-9]+", "", contact)
    if bare and bare != "*" and granted:
        response.set_header("Contact", f"{bare};expires={granted}")
    response.set_header("Expires", str(granted))
    return response


def _answer(request: SipRequest, status: int, reason: str) -> SipResponse:
    """A response to a request that opens no dialog: Via, From, Call-ID and CSeq
    copied, a To tag of our own."""
    return Dialog(call_id=request.call_id or "", local_tag=generate_tag()).create_response(
        request, status, reason
    )


def local_ip(listen_host: str, intercom: tuple[str, int]) -> str:
    """The address the intercom reaches us at, for our SDP and Contact: the listening
    address, or when that is every address, the one the route to the intercom leaves
    from (a UDP connect sends nothing)."""
    if listen_host not in ("0.0.0.0", ""):
        return listen_host
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as probe:
        probe.connect(intercom)
        address: str = probe.getsockname()[0]
        return address
