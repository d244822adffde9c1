"""An emulated Hikvision ANPR camera (ISAPI), from the ISAPI Vehicle Access Control
Management guide and the alerts real cameras post (the fields of ``anpr.xml`` below are
a DS-TCG's, in its order).

As the camera: it serves ISAPI behind HTTP Digest (deviceInfo, the barrier, its state,
the voice broadcast, a still picture), and it pushes each plate once to its listening
host as ``multipart/form-data`` (``anpr.xml``, ``detectionPicture.jpg``,
``licensePlatePicture.jpg``), or as bare XML or JSON as some firmware does, never
posting again whatever the answer. The barrier takes ``lift_s`` to rise, falls again
``hold_s`` later where set (its auto-close), and, locked, takes the open and stays
closed. Its replies can be written in GB2312, as Chinese firmware writes them. Faults:
unplugged (``server.stop``), slow answers, a
changed password, pushes malformed, huge or an XML bomb.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import time
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Literal

import cv2
import defusedxml.ElementTree as safe_xml
import httpx
import numpy as np
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route

from gates.lane.snapshot import render
from gates.vocabulary import PlateColour
from tests.emulators.digest import DigestGuard, Fault, Guarded
from tests.emulators.server import DeviceServer

NS = "http://www.isapi.org/ver20/XMLSchema"
BOUNDARY = "boundary"  # what the cameras write, literally
SIZE = (1280, 720)  # the scene's, as the renderer draws it by default


def status_xml(code: int, text: str, sub: str) -> bytes:
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><ResponseStatus version="2.0" xmlns="{NS}">'
        f"<requestURL></requestURL><statusCode>{code}</statusCode>"
        f"<statusString>{text}</statusString><subStatusCode>{sub}</subStatusCode>"
        "</ResponseStatus>"
    ).encode()


OK = status_xml(1, "OK", "ok")
NOT_SUPPORT = status_xml(4, "Invalid Operation", "notSupport")
BAD_XML = status_xml(5, "Invalid XML Format", "badXmlFormat")


@dataclass(frozen=True, slots=True)
class Car:
    plate: str
    colour: str  # ISAPI plateColor
    colour_word: str  # what Hikvision's Chinese firmware writes before the plate
    confidence: int
    jpeg: bytes  # the scene
    crop: bytes  # the plate
    box: tuple[int, int, int, int]  # the plate in the scene, pixels

    @property
    def rect(self) -> tuple[int, int, int, int]:
        """The box in thousandths of the picture, as plateRect gives it."""
        width, height = SIZE
        x, y, w, h = self.box
        return (x * 1000 // width, y * 1000 // height, w * 1000 // width, h * 1000 // height)


@functools.cache
def car(plate: str, colour: PlateColour, *, confidence: int = 96, seed: int = 1) -> Car:
    """A car at the barrier, drawn by the simulator's renderer, the plate cropped out
    (kept: drawing one is a tenth of a second or so, and a car does not change)."""
    shot = render(
        plate, colour, gate_angle=0.0, at=datetime(2026, 5, 7, 9, 30, tzinfo=UTC), seed=seed
    )
    image = cv2.imdecode(np.frombuffer(shot.jpeg, np.uint8), cv2.IMREAD_COLOR)
    assert image is not None
    x, y, w, h = shot.box
    ok, crop = cv2.imencode(".jpg", image[y : y + h, x : x + w])
    assert ok
    words = {PlateColour.BLUE: "蓝", PlateColour.YELLOW: "黄", PlateColour.GREEN: "绿"}
    return Car(
        plate=plate,
        colour_word=words.get(colour, ""),
        colour={PlateColour.GREEN: "newEnergyGreen"}.get(colour, colour.value),
        confidence=confidence,
        jpeg=shot.jpeg,
        crop=crop.tobytes(),
        box=shot.box,
    )


def anpr_xml(camera: HikvisionCamera, seen: Car) -> bytes:
    document = alert_xml(
        camera.server.port,
        camera.channel,
        seen.colour_word + seen.plate,
        str(seen.confidence),
        seen.colour,
        seen.rect,
    )
    return in_encoding(document, camera.encoding)


def alert_xml(
    port: int, channel: int, plate: str, confidence: str, colour: str, rect: tuple[int, ...]
) -> bytes:
    """``anpr.xml``: ``plate`` as the camera writes it, ``rect`` the plate's plateRect."""
    now = datetime.now(UTC).astimezone()
    x, y, w, h = rect
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<EventNotificationAlert version="2.0" xmlns="{NS}">
<ipAddress>127.0.0.1</ipAddress>
<portNo>{port}</portNo>
<protocol>HTTP</protocol>
<macAddress>c0:56:e3:5a:17:20</macAddress>
<channelID>{channel}</channelID>
<dateTime>{now.isoformat(timespec="seconds")}</dateTime>
<activePostCount>1</activePostCount>
<eventType>ANPR</eventType>
<eventState>active</eventState>
<eventDescription>ANPR</eventDescription>
<channelName>Entrance</channelName>
<ANPR>
<country>59</country>
<licensePlate>{plate}</licensePlate>
<line>1</line>
<direction>forward</direction>
<confidenceLevel>{confidence}</confidenceLevel>
<plateType>92TypeCivil</plateType>
<plateColor>{colour}</plateColor>
<licenseBright>0</licenseBright>
<dangmark>no</dangmark>
<twoWheelVehicle>no</twoWheelVehicle>
<threeWheelVehicle>no</threeWheelVehicle>
<vehicleType>vehicle</vehicleType>
<detectDir>8</detectDir>
<detectType>0</detectType>
<alarmDataType>0</alarmDataType>
<vehicleInfo>
<index>0</index>
<vehicleType>1</vehicleType>
<colorDepth>0</colorDepth>
<color>unknown</color>
<speed>0</speed>
<length>0</length>
</vehicleInfo>
<pictureInfoList>
<pictureInfo>
<fileName>licensePlatePicture.jpg</fileName>
<type>licensePlatePicture</type>
<dataType>0</dataType>
</pictureInfo>
<pictureInfo>
<fileName>detectionPicture.jpg</fileName>
<type>detectionPicture</type>
<dataType>0</dataType>
<absTime>{now:%Y%m%d%H%M%S}000</absTime>
<plateRect>
<X>{x}</X>
<Y>{y}</Y>
<width>{w}</width>
<height>{h}</height>
</plateRect>
</pictureInfo>
</pictureInfoList>
<listType>temporary</listType>
</ANPR>
<UUID>{uuid.uuid4()}</UUID>
<picNum>2</picNum>
<isDataRetransmission>false</isDataRetransmission>
</EventNotificationAlert>
""".encode()


def anpr_json(seen: Car) -> bytes:
    """The JSON form some firmware posts instead (ISAPI's JSON mirrors the XML)."""
    return json.dumps(
        {
            "ipAddress": "127.0.0.1",
            "eventType": "ANPR",
            "eventState": "active",
            "ANPR": {
                "licensePlate": seen.colour_word + seen.plate,
                "direction": "forward",
                "confidenceLevel": seen.confidence,
                "plateColor": seen.colour,
                "pictureInfoList": [
                    {"fileName": "detectionPicture.jpg", "type": "detectionPicture"}
                ],
            },
        },
        ensure_ascii=False,
    ).encode()


def form(parts: list[tuple[str, str, bytes]]) -> tuple[str, bytes]:
    """A multipart/form-data body as the camera writes it: CRLF, one Content-Length each."""
    body = b""
    for name, kind, data in parts:
        body += (
            (
                f'--{BOUNDARY}\r\nContent-Disposition: form-data; name="{name}"; '
                f'filename="{name}"\r\nContent-Type: {kind}\r\nContent-Length: {len(data)}\r\n\r\n'
            ).encode()
            + data
            + b"\r\n"
        )
    return f"multipart/form-data; boundary={BOUNDARY}", body + f"--{BOUNDARY}--\r\n".encode()


BOMB = b"""<?xml version="1.0"?>
<!DOCTYPE lolz [<!ENTITY lol "lol"><!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">
<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>
<EventNotificationAlert><eventType>ANPR</eventType><ANPR><licensePlate>&lol3;</licensePlate>
<confidenceLevel>90</confidenceLevel></ANPR></EventNotificationAlert>"""


@dataclass
class HikvisionCamera:
    user: str = "admin"
    password: str = "Hik12345"
    channel: int = 1
    reports_barrier: bool = True
    lift_s: float = 0.3  # a barrier arm's rise, roughly
    hold_s: float | None = None  # up this long, then down again (None: stays up)
    locked: bool = False
    refuse_barrier: bool = False  # barrier control off in the camera's settings
    slow_s: float = 0.0
    fault: Fault | None = None  # drip or huge: every answer sent so (tests.emulators.digest)
    encoding: str = "UTF-8"  # its replies and pushes are written in (GB2312: Chinese firmware)
    barrier: int = 1  # barrierGateStatus: 0 no signal, 1 closed, 2 open
    opens: int = 0
    status_reads: int = 0  # barrierGateStatus asked, answered or not
    lifted: asyncio.Queue[float] = field(
        default_factory=asyncio.Queue
    )  # perf_counter each time the arm reports up
    spoken: list[str] = field(default_factory=list)
    guard: DigestGuard = field(init=False)
    server: DeviceServer = field(init=False)

    def __post_init__(self) -> None:
        self.guard = DigestGuard("DS-TCG405-E", self.user, self.password)
        prefix = f"/ISAPI/Parking/channels/{self.channel}"
        app = Starlette(
            routes=[
                Route("/ISAPI/System/deviceInfo", self._device_info),
                Route(f"{prefix}/barrierGate", self._barrier, methods=["PUT"]),
                Route(f"{prefix}/barrierGate/barrierGateStatus", self._barrier_status),
                Route(f"{prefix}/voiceBroadcastInfo", self._voice, methods=["PUT"]),
                Route(f"/ISAPI/Streaming/channels/{self.channel}01/picture", self._picture),
            ]
        )
        self.server = DeviceServer(
            Guarded(app, self.guard, lambda: self.slow_s, lambda: self.fault)
        )
        self.still = car("粤B12345", PlateColour.BLUE, seed=7).jpeg

    async def _device_info(self, request: Request) -> Response:
        return self._xml(
            f'<?xml version="1.0" encoding="UTF-8"?><DeviceInfo version="2.0" xmlns="{NS}">'
            "<deviceName>Entrance</deviceName><model>DS-TCG405-E</model>"
            "<firmwareVersion>V5.4.0</firmwareVersion></DeviceInfo>".encode()
        )

    async def _barrier(self, request: Request) -> Response:
        try:
            root = safe_xml.fromstring(await request.body(), forbid_dtd=True)
        except Exception:
            return self._xml(BAD_XML, 400)
        if self.refuse_barrier:
            return self._xml(NOT_SUPPORT, 403)
        mode = next((e.text for e in root.iter() if e.tag.endswith("ctrlMode")), None)
        if mode != "open":
            return self._xml(status_xml(6, "Invalid Content", "badParameters"), 400)
        self.opens += 1
        if not self.locked:
            asyncio.get_running_loop().call_later(self.lift_s, self._lifted)
        return self._xml(OK)

    def _lifted(self) -> None:
        self.barrier = 2
        self.lifted.put_nowait(time.perf_counter())
        if self.hold_s is not None:
            asyncio.get_running_loop().call_later(self.hold_s, self._fallen)

    def _fallen(self) -> None:
        self.barrier = 1

    async def _barrier_status(self, request: Request) -> Response:
        self.status_reads += 1
        if not self.reports_barrier:
            return self._xml(NOT_SUPPORT, 403)
        return self._xml(
            f'<?xml version="1.0" encoding="UTF-8"?><BarrierGateStatus version="2.0" '
            f'xmlns="{NS}"><barrierGateStatus>{self.barrier}</barrierGateStatus>'
            "</BarrierGateStatus>".encode()
        )

    async def _voice(self, request: Request) -> Response:
        root = safe_xml.fromstring(await request.body(), forbid_dtd=True)
        self.spoken.extend(e.text or "" for e in root.iter() if e.tag.endswith("TTSInfo"))
        return self._xml(OK)

    async def _picture(self, request: Request) -> Response:
        return Response(self.still, media_type="image/jpeg")

    def _xml(self, body: bytes, status: int = 200) -> Response:
        return Response(
            in_encoding(body, self.encoding),
            status,
            media_type=f'application/xml; charset="{self.encoding}"',
        )

    async def push(
        self,
        url: str,
        seen: Car,
        *,
        as_: Literal["multipart", "xml", "json", "json-multipart"] = "multipart",
        body: tuple[str, bytes] | None = None,
        client: httpx.AsyncClient | None = None,
    ) -> int:
        """Post one plate to the listening host, once: the camera does not post again.
        ``client``: one kept by the caller (a benchmark: making a client costs tens of
        milliseconds, which no camera spends), else one made for the post."""
        if body is None:
            if as_ == "multipart":
                body = form(
                    [
                        ("anpr.xml", f'text/xml; charset="{self.encoding}"', anpr_xml(self, seen)),
                        ("licensePlatePicture.jpg", "image/jpeg", seen.crop),
                        ("detectionPicture.jpg", "image/jpeg", seen.jpeg),
                    ]
                )
            elif as_ == "json-multipart":
                body = form(
                    [
                        ("anpr.json", "application/json", anpr_json(seen)),
                        ("detectionPicture.jpg", "image/jpeg", seen.jpeg),
                    ]
                )
            elif as_ == "xml":
                body = f'application/xml; charset="{self.encoding}"', anpr_xml(self, seen)
            else:
                body = "application/json", anpr_json(seen)
        poster = (
            contextlib.nullcontext(client) if client is not None else httpx.AsyncClient(timeout=5.0)
        )
        async with poster as posting:
            reply = await posting.post(url, content=body[1], headers={"Content-Type": body[0]})
        return reply.status_code


def in_encoding(document: bytes, encoding: str) -> bytes:
    """A UTF-8 document as firmware writes it in ``encoding``, declaration and all."""
    text = document.decode().replace('encoding="UTF-8"', f'encoding="{encoding}"', 1)
    return text.encode(encoding)
