"""An AlarmInfoPlate camera (Vzenith 臻识 and its kin) on real sockets, for the tests and
the benchmark.

It does what the camera does, as the family's public sources describe it: it POSTs
each plate as ``{"AlarmInfoPlate": ...}`` JSON (the shapes of
``DaviLuisSantos/Alphadigi-migration``'s DTOs) and a ``{"heartbeat": ...}`` comet poll
every ``poll_s``; it waits 5 s for an answer, resends a push up to 4 times, then fails
over to its backup server, and keeps what no server took to push again, marked
``isoffline``, once a server answers again (a poll answered after none was), one by
one, each only after the last one's answer said ``"ContinuePushOffline": {"plateid":
<its id>, "continue": 1}`` (the Vzenith HTTP push document, §2.1.2). No source says
when a camera told to stop starts again; this one starts again after its next live
read is answered, as the document has it do after a live read interrupts the stored
ones.
An answer's ``info: ok`` closes output ``channelNum`` for 500 ms; its ``serialData``
goes out on the RS485 port (onto an emulated board's bus where a test wires one). Its
TCP SDK (``'VZ'`` framing, port 8131 on a real camera) takes ``ioctl`` and pulses the
output, and answers ``get_gpio_value`` with an input's level (0 closed, 1 open); it drops
a link that sent no heartbeat for three of the SDK's 2 s beats, as the SDK does on its
side. A barrier is wired to it: a pulse on its output ``barrier_output`` lifts the arm
(``lift_s`` later, unless the barrier is locked), whose up-limit switch closes input
``switch_input`` while it is up. A test injects its faults: switched off (nothing
pushes, nothing listens), the SDK port unplugged, a slow SDK, answers it cannot read,
an input read answered with a value that is no level, an ioctl taken and not answered
or refused, a locked barrier, huge and malformed pushes, a poll whose answer it gave up on.
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import itertools
import json
import time
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any, Literal
from urllib.parse import urlsplit

import httpx

from gates.hardware.alarminfo import frames
from gates.lane.snapshot import render
from gates.vocabulary import PlateColour

REPLY_TIMEOUT_S = 5.0  # the camera's wait for an answer
RESENDS = 4  # then the next server
PULSE_S = 0.5  # an answer's "info: ok" closes the output this long
COLOUR_TYPES = {PlateColour.BLUE: 1, PlateColour.YELLOW: 2, PlateColour.WHITE: 3}
COLOUR_TYPES |= {PlateColour.BLACK: 4, PlateColour.GREEN: 5}


@dataclass(frozen=True, slots=True)
class Pulse:
    channel: int
    seconds: float
    by: str  # "push", "poll" or "ioctl": which answer closed the output


@dataclass
class Faults:
    off: bool = False  # switched off: no pushes, no polls, the SDK port refuses
    sdk_delay_s: float = 0.0  # the SDK answers this late
    sdk_garbage: bool = False  # the SDK answers with bytes that are not its protocol
    sdk_off: bool = False  # the SDK's port unplugged: its links drop, new ones are refused
    gpio_garbage: bool = False  # get_gpio_value answers a value that is no level
    locked: bool = False  # the barrier takes the pulse and its arm stays down
    # Firmware that pulses on an ioctl and answers nothing, as Vzenith's own SDK expects
    # (it does not wait for one): "silent" keeps the connection open, "closes" closes it.
    ioctl_unanswered: Literal["", "silent", "closes"] = ""
    ioctl_refused: bool = False  # ioctl answered with state_code 400, the output left alone
    # The next polls given up on: sent, then the camera closes its side of the
    # connection and never reads the answer, as one that timed out waiting does.
    hang_up_polls: int = 0


@dataclass
class Sent:
    """A push as the camera saw it through."""

    body: dict[str, Any]
    server: str | None = None  # the server that answered it; None: kept for later
    attempts: int = 0
    answer: dict[str, Any] | None = None


@dataclass
class AlarmInfoEmulator:
    servers: list[str]  # the push URLs, the first, then the backups
    source: str = "127.0.0.1"  # the camera's address
    poll_s: float = 1.0
    serialno: str = "QFX2182310150262"
    faults: Faults = field(default_factory=Faults)
    pulses: asyncio.Queue[Pulse] = field(default_factory=asyncio.Queue)  # as each ends
    closed: asyncio.Queue[float] = field(
        default_factory=asyncio.Queue
    )  # perf_counter at each start
    serial_out: asyncio.Queue[tuple[int, bytes]] = field(default_factory=asyncio.Queue)
    answers: list[dict[str, Any]] = field(default_factory=list)
    polls: asyncio.Queue[dict[str, Any]] = field(default_factory=asyncio.Queue)  # their answers
    delivered: asyncio.Queue[Sent] = field(default_factory=asyncio.Queue)  # answered pushes
    offline: list[dict[str, Any]] = field(default_factory=list)  # kept pushes, oldest first
    # A stored read's answer said not to go on: the kept pushes wait for a live read.
    offline_stopped: bool = False
    _unheard: bool = False  # the last poll had no answer: the next answered one reconnects
    sdk_port: int = 0
    polled_at: float = 0.0  # perf_counter as the last poll left
    barrier_output: int = 0  # the output the barrier's open contact is on
    switch_input: int = 0  # the input its up-limit switch is on, closed (0) while up
    lift_s: float = 0.3  # a barrier arm's rise, roughly
    hold_s: float | None = None  # up this long, then down again (None: stays up)
    arm_up: bool = False
    sdk_dials: int = 0  # connections the SDK port took
    gpio_reads: int = 0
    _ids: itertools.count[int] = field(default_factory=lambda: itertools.count(1001))
    _beats: itertools.count[int] = field(default_factory=lambda: itertools.count(1))
    # The RS485 buses the camera's serial channels are wired to (a port on 127.0.0.1
    # where an emulated board listens), by serialChannel: serialData goes out on them.
    buses: dict[int, int] = field(default_factory=dict)
    _wires: dict[int, asyncio.StreamWriter] = field(default_factory=dict)
    _client: httpx.AsyncClient | None = None
    _tasks: set[asyncio.Task[None]] = field(default_factory=set)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[AlarmInfoEmulator]:
        transport = httpx.AsyncHTTPTransport(local_address=self.source)
        sdk = await asyncio.start_server(self._sdk, self.source, self.sdk_port)
        self.sdk_port = sdk.sockets[0].getsockname()[1]
        async with httpx.AsyncClient(transport=transport, timeout=REPLY_TIMEOUT_S) as client:
            self._client = client
            polling = asyncio.create_task(self._poll())
            try:
                yield self
            finally:
                polling.cancel()
                for task in (polling, *self._tasks):
                    task.cancel()
                await asyncio.gather(polling, *self._tasks, return_exceptions=True)
                for wire in self._wires.values():
                    wire.close()
                sdk.close()
                await sdk.wait_closed()

    # ------------------------------------------------------------------ pushes

    def restart_ids(self) -> None:
        """Count read ids from the start again, as some firmware does after a reboot."""
        self._ids = itertools.count(1001)

    def plate(
        self,
        plate: str,
        colour: PlateColour = PlateColour.BLUE,
        confidence: int = 98,
        *,
        image: bytes | None = None,
    ) -> dict[str, Any]:
        """A read as the camera posts it, with a real picture of the car."""
        now = datetime.now(UTC)
        shot = render(plate, colour, gate_angle=0.0, at=now, seed=3, size=(640, 360))
        x, y, w, h = shot.box
        jpeg = shot.jpeg if image is None else image
        return {
            "AlarmInfoPlate": {
                "channel": 0,
                "deviceName": "IVS",
                "ipaddr": self.source,
                "openflag": 0,
                "serialno": self.serialno,
                "result": {
                    "PlateResult": {
                        "license": plate,
                        "colorType": COLOUR_TYPES.get(colour, 0),
                        "confidence": confidence,
                        "plateid": next(self._ids),
                        "isoffline": 0,
                        "direction": 4,
                        "triggerType": 8,
                        "location": {
                            "RECT": {"left": x, "top": y, "right": x + w, "bottom": y + h}
                        },
                        "timeStamp": {"Timeval": {"sec": int(now.timestamp()), "usec": 0}},
                        "imageFile": base64.b64encode(jpeg).decode("ascii"),
                        "imageFileLen": len(jpeg),
                    }
                },
            }
        }

    async def push(self, body: dict[str, Any] | bytes) -> Sent:
        """Post ``body`` as the camera does: resends, failover, keeping it if no server
        takes it. Returns once it is answered or kept."""
        sent = Sent(body if isinstance(body, dict) else {"raw": body})
        raw = body if isinstance(body, bytes) else json.dumps(body, ensure_ascii=False).encode()
        for server in self.servers:
            for _ in range(1 + RESENDS):
                sent.attempts += 1
                answer = await self._post(server, raw)
                if answer is not None:
                    sent.server, sent.answer = server, answer
                    if not _stored(body):
                        self.offline_stopped = False
                    await self._obey(answer, "push")
                    self.delivered.put_nowait(sent)
                    return sent
        if isinstance(body, dict):
            self.offline.append(body)
        return sent

    async def _post(self, server: str, raw: bytes) -> dict[str, Any] | None:
        """The answer, or None where the camera would store and resend."""
        if self.faults.off:
            return None
        assert self._client is not None, "the emulator is not running"
        try:
            response = await self._client.post(
                server, content=raw, headers={"content-type": "application/json"}
            )
        except httpx.HTTPError:
            return None
        if response.status_code != 200:
            return None
        try:
            answer = response.json()
        except ValueError:
            return None
        if not isinstance(answer, dict) or not answer:
            return None
        self.answers.append(answer)
        return answer

    async def _poll(self) -> None:
        """The comet poll every ``poll_s``."""
        while True:
            await asyncio.sleep(self.poll_s)  # the camera's poll cadence
            await self.poll()

    async def poll(self) -> None:
        """One comet poll, with the heartbeat's body; a kept push goes out again, marked
        offline, once a server answers."""
        if self.faults.off:
            self._unheard = True
            return
        now = int(datetime.now(UTC).timestamp())
        beat = {
            "heartbeat": {
                "countid": next(self._beats),
                "timeStamp": {"Timeval": {"sec": now, "usec": 0}},
                "serialno": self.serialno,
            }
        }
        if self.faults.hang_up_polls > 0:
            self.faults.hang_up_polls -= 1
            await self._hang_up(self.servers[0], json.dumps(beat).encode())
            return
        for server in self.servers:
            self.polled_at = time.perf_counter()
            answer = await self._post(server, json.dumps(beat).encode())
            if answer is not None:
                await self._obey(answer, "poll")
                self.polls.put_nowait(answer)
                break
        else:
            self._unheard = True
            return
        if self._unheard:
            self._unheard, self.offline_stopped = False, False
        while self.offline and not self.offline_stopped and not self.faults.off:
            kept = self.offline.pop(0)
            result = kept["AlarmInfoPlate"]["result"]["PlateResult"]
            result["isoffline"] = 1
            sent = await self.push(kept)
            if sent.answer is not None:
                go_on = next(iter(sent.answer.values())).get("ContinuePushOffline")
                wanted = {"plateid": result["plateid"], "continue": 1}
                self.offline_stopped = go_on != wanted
            else:
                break  # kept again, for the next server that answers

    async def _hang_up(self, server: str, raw: bytes) -> None:
        """POST ``raw`` and close the sending side before any answer is read. What the
        server writes back is thrown away unread; waiting for it to close its side too
        only lets a test know the server is done with the request."""
        url = urlsplit(server)
        assert url.hostname is not None and url.port is not None
        reader, writer = await asyncio.open_connection(
            url.hostname, url.port, local_addr=(self.source, 0)
        )
        try:
            writer.write(
                f"POST {url.path} HTTP/1.1\r\nhost: {url.netloc}\r\n"
                f"content-type: application/json\r\ncontent-length: {len(raw)}\r\n\r\n".encode()
                + raw
            )
            writer.write_eof()
            while await reader.read(65536):
                pass
        finally:
            writer.close()

    async def _obey(self, answer: dict[str, Any], by: str) -> None:
        body = next(iter(answer.values()))
        if not isinstance(body, dict):
            return
        for entry in body.get("serialData", []):
            data = base64.b64decode(entry["data"])
            assert entry["dataLen"] == len(data), "dataLen must be the data's length"
            self.serial_out.put_nowait((entry["serialChannel"], data))
            await self._on_bus(entry["serialChannel"], data)
        if body.get("info") == "ok":
            self._pulse(int(body.get("channelNum", 0)), PULSE_S, by)

    async def _on_bus(self, channel: int, data: bytes) -> None:
        """``data`` out on the wires of serial channel ``channel``, where a bus is. RS485
        is sent blind: with nothing on the wires (the bus gone) the bytes are lost, and
        the camera polls on."""
        if channel not in self.buses:
            return
        wire = self._wires.get(channel)
        try:
            if wire is None or wire.is_closing():
                _, wire = await asyncio.open_connection("127.0.0.1", self.buses[channel])
                self._wires[channel] = wire
            wire.write(data)
            await wire.drain()
        except OSError:
            self._wires.pop(channel, None)

    def _pulse(self, channel: int, seconds: float, by: str) -> None:
        self.closed.put_nowait(time.perf_counter())
        if channel == self.barrier_output and not self.faults.locked:
            asyncio.get_running_loop().call_later(self.lift_s, self._lifted)

        async def closed() -> None:
            await asyncio.sleep(seconds)  # the relay's pulse: real time is the point
            self.pulses.put_nowait(Pulse(channel, seconds, by))

        task = asyncio.create_task(closed())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    def _lifted(self) -> None:
        self.arm_up = True
        if self.hold_s is not None:
            asyncio.get_running_loop().call_later(self.hold_s, self._fallen)

    def _fallen(self) -> None:
        self.arm_up = False

    def level(self, gpio: int) -> int:
        """Input ``gpio``'s level: 0 while its contact is closed, 1 while it is open (an
        input with nothing wired is open)."""
        return 0 if gpio == self.switch_input and self.arm_up else 1

    # ------------------------------------------------------------------ TCP SDK

    async def _sdk(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            self.sdk_dials += 1
            beat_at = time.perf_counter()
            while not (self.faults.off or self.faults.sdk_off):
                # A link whose client's heartbeats stopped is dead, and dropped.
                left = 3 * frames.HEARTBEAT_S - (time.perf_counter() - beat_at)
                async with asyncio.timeout(max(left, 0.0)):
                    head = frames.header(await reader.readexactly(frames.HEADER.size))
                body = await reader.readexactly(head.length)
                if self.faults.off or self.faults.sdk_off:
                    return
                if head.kind == frames.HEARTBEAT:
                    beat_at = time.perf_counter()
                    writer.write(frames.frame(frames.HEARTBEAT))
                    continue
                request = frames.answer(body)
                if request.get("cmd") == "ioctl" and self.faults.ioctl_unanswered:
                    self._answer(request)
                    if self.faults.ioctl_unanswered == "closes":
                        return
                    continue
                await asyncio.sleep(self.faults.sdk_delay_s)  # a slow camera, as injected
                if self.faults.sdk_garbage:
                    writer.write(b"HTTP/1.0 400 Bad Request\r\n\r\n")
                    await writer.drain()
                    continue
                # A heartbeat before the answer, as the camera interleaves them.
                writer.write(frames.frame(frames.HEARTBEAT))
                writer.write(frames.command(self._answer(request)))
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError, TimeoutError, frames.BadFrame):
            pass
        finally:
            if self.faults.off or self.faults.sdk_off:
                # The nearest a listening port comes to refusing: a reset, never the
                # orderly close of a camera that read the order and answered nothing.
                writer.transport.abort()
            else:
                writer.close()

    def _answer(self, request: dict[str, Any]) -> dict[str, Any]:
        answer: dict[str, Any] = {"cmd": request.get("cmd"), "id": "1"}
        if (
            request.get("cmd") == "ioctl"
            and request.get("value") == 2
            and not self.faults.ioctl_refused
        ):
            self._pulse(int(request["io"]), int(request["delay"]) / 1000, "ioctl")
            return answer | {"state_code": 200, "error_msg": "Sucess"}
        gpio = request.get("gpio")
        if request.get("cmd") == "get_gpio_value" and gpio in frames.INPUTS:
            self.gpio_reads += 1
            value: object = "high" if self.faults.gpio_garbage else self.level(gpio)
            return answer | {"gpio": gpio, "value": value, "state_code": 200}
        return answer | {"state_code": 400, "error_msg": "bad request"}


def _stored(body: dict[str, Any] | bytes) -> bool:
    """A push of a read the camera stored while no server answered."""
    if not isinstance(body, dict):
        return False
    result = body.get("AlarmInfoPlate", {}).get("result", {}).get("PlateResult", {})
    return bool(result.get("isoffline"))
