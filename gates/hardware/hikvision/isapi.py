"""The ISAPI requests a lane makes of a Hikvision ANPR camera, and the replies, as bytes
and values: the barrier (Parking/channels/<id>/barrierGate), its state
(barrierGate/barrierGateStatus) and the voice broadcast (voiceBroadcastInfo). No I/O.
"""

from __future__ import annotations

from xml.etree.ElementTree import Element
from xml.sax.saxutils import escape

from gates.hardware.hikvision import xmltext
from gates.textrules import parse_count
from gates.vocabulary import GateState

_NS = "http://www.isapi.org/ver20/XMLSchema"
_DECLARATION = '<?xml version="1.0" encoding="UTF-8"?>'


class IsapiError(ValueError):
    """A reply that is not ISAPI's."""


def barrier(path_channel: int) -> tuple[str, bytes]:
    """Lift the barrier: the path and body of the PUT."""
    body = (
        f'{_DECLARATION}<BarrierGate version="2.0" xmlns="{_NS}">'
        "<ctrlMode>open</ctrlMode></BarrierGate>"
    )
    return f"/ISAPI/Parking/channels/{path_channel}/barrierGate", body.encode()


def barrier_status_path(channel: int) -> str:
    return f"/ISAPI/Parking/channels/{channel}/barrierGate/barrierGateStatus"


def voice(channel: int, text: str, volume: int) -> tuple[str, bytes]:
    """Speak ``text`` by the camera's TTS: ``[vN]`` before the text sets the volume (1-10).

    Hikvision's ISAPI parking samples (``VoiceManage.voiceBroadcastInfo``, in Java and
    C#) print the method and path, ``PUT /ISAPI/Parking/channels/1/voiceBroadcastInfo``,
    and the one field, ``TTSInfo`` = ``[v1]测试语音播报`` ("[V]中数字表示音量等级，取值范围
    1-10"), but fill the body from a template, ``conf/ITC/voiceBroadcastInfo.xml``, that
    no public copy carries. The root element around it follows ISAPI's naming of a
    resource's body after the resource (``barrierGate`` takes ``<BarrierGate>``); it is
    the one part of this request no source prints."""
    body = (
        f'{_DECLARATION}<VoiceBroadcastInfo version="2.0" xmlns="{_NS}">'
        f"<TTSInfo>[v{volume}]{escape(text)}</TTSInfo></VoiceBroadcastInfo>"
    )
    return f"/ISAPI/Parking/channels/{channel}/voiceBroadcastInfo", body.encode("utf-8")


def picture_path(channel: int) -> str:
    """A still from the camera's main stream (channel 1 → stream 101)."""
    return f"/ISAPI/Streaming/channels/{channel}01/picture"


# barrierGateStatus: 0 no signal from the barrier, 1 closed, 2 open.
_GATE = {"0": GateState.UNKNOWN, "1": GateState.DOWN, "2": GateState.UP}


def gate_state(body: bytes) -> GateState:
    value = _field(body, "barrierGateStatus")
    if value not in _GATE:
        raise IsapiError(f"barrierGateStatus {value[:20]!r} is not 0, 1 or 2")
    return _GATE[value]


def response_status(body: bytes) -> tuple[int, str]:
    """A ``ResponseStatus``'s statusCode (1 is OK) and what it says (subStatusCode, or
    statusString)."""
    code = _field(body, "statusCode")
    if parse_count(code) is None:
        raise IsapiError(f"statusCode {code[:20]!r} is not a number")
    root = _root(body)
    said = ""
    for name in ("subStatusCode", "statusString"):
        said = said or _text(root, name)
    return int(code), said


def not_supported(body: bytes) -> bool:
    """The camera says it has no such resource: a ``ResponseStatus`` whose
    ``subStatusCode`` is ``notSupport`` (under statusCode 4, "Invalid Operation", in
    ISAPI's ResponseStatus; the other reasons under 4, such as ``lowPrivilege``, are no
    answer of this kind). A camera without barrier status answers its read so."""
    try:
        return _text(_root(body), "subStatusCode") == "notSupport"
    except IsapiError:
        return False


def _root(body: bytes) -> Element:
    try:
        return xmltext.parse(body)
    except xmltext.XmlError as exc:
        raise IsapiError(str(exc)) from None


def _text(root: Element, name: str) -> str:
    for element in root.iter():
        if element.tag.rsplit("}", 1)[-1] == name:
            return (element.text or "").strip()
    return ""


def _field(body: bytes, name: str) -> str:
    root = _root(body)
    value = _text(root, name)
    if not value:
        raise IsapiError(f"no {name} in the reply")
    return value
