"""A driver's phone on the help page, for tests: a sticker's token as the centre issues
it, the page's HTTP requests with the call's secret, and the call's state stream read
message by message with a timeout, never by sleeping."""

from __future__ import annotations

import asyncio
import contextlib
import json
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import httpx
from aiortc import RTCPeerConnection, RTCSessionDescription
from websockets.asyncio.client import ClientConnection, connect

from console.help import SECRET_HEADER
from console.stickers import Issuer, issue_sticker, sticker_key
from media.centre.peer import prefer_codec
from media.units import Kind
from tests.conftest import Centre
from tests.packet_track import PacketTrack
from tests.viewers import ViewerPeer

BASE = "https://seat.example.com"
Message = dict[str, Any]


async def sticker(centre: Centre, lane_id: str, *, revoke: bool = False) -> str:
    """The token of ``lane_id``'s current help sticker (a new one with ``revoke``)."""
    key = await sticker_key(centre.store, centre.settings)
    revoked_by = Issuer("test", centre.store.append) if revoke else None
    issued = await issue_sticker(centre.store, key, lane_id, BASE, revoked_by=revoked_by)
    await centre.changes.poll()
    return issued.url.removeprefix(f"{BASE}/help/")


@dataclass
class Phone:
    """One phone's page: ``token`` its sticker's, ``secret`` its call's once placed."""

    client: httpx.AsyncClient
    token: str
    call_id: str = ""
    secret: str = ""

    @property
    def path(self) -> str:
        return f"/help/{self.token}"

    async def place(self, headers: dict[str, str] | None = None) -> httpx.Response:
        """``POST …/call``, sending the secret held, if any; keeps the call it gets."""
        sent = {SECRET_HEADER: self.secret} if self.secret else {}
        response = await self.client.post(
            f"{self.path}/call", json={}, headers={**sent, **(headers or {})}
        )
        if response.status_code in (200, 201):
            self.call_id, self.secret = response.json()["call_id"], response.json()["secret"]
        return response

    async def post(self, verb: str, body: object = None) -> httpx.Response:
        return await self.client.post(
            f"{self.path}/call/{self.call_id}/{verb}",
            json={} if body is None else body,
            headers={SECRET_HEADER: self.secret},
        )

    async def state(self) -> httpx.Response:
        return await self.client.get(
            f"{self.path}/call/{self.call_id}", headers={SECRET_HEADER: self.secret}
        )

    def stream_url(self) -> str:
        url = str(self.client.base_url).replace("http://", "ws://")
        return f"{url}{self.path}/call/{self.call_id}/stream"


@contextlib.asynccontextmanager
async def phone(centre: Centre, token: str) -> AsyncIterator[Phone]:
    async with httpx.AsyncClient(base_url=centre.url, timeout=30) as client:
        yield Phone(client, token)


@dataclass
class Following:
    """The page's stream of its call's state."""

    ws: ClientConnection

    async def next(self, state: str, timeout: float = 15) -> Message:
        """The next state of the call that is ``state``; the others are skipped."""
        async with asyncio.timeout(timeout):
            while True:
                message: Message = json.loads(await self.ws.recv())
                if message["type"] == "call" and message["call"]["state"] == state:
                    call: Message = message["call"]
                    return call


@contextlib.asynccontextmanager
async def following(page: Phone, secret: str | None = None) -> AsyncIterator[Following]:
    """The page's stream, opened with the call's secret (or ``secret``)."""
    async with connect(page.stream_url()) as ws:
        await ws.send(json.dumps({"secret": page.secret if secret is None else secret}))
        yield Following(ws)


async def voice(page: Phone) -> ViewerPeer:
    """The phone's microphone and speaker as a real aiortc peer, like the page's: one
    audio section, sendrecv, Opus; offered through ``POST …/webrtc``. What it is sent
    is decoded into ``audio``; ``speak`` sends Opus units."""
    peer = ViewerPeer(RTCPeerConnection())
    peer.pc.on("track", peer._on_track)
    peer.voice = PacketTrack(Kind.AUDIO, capacity=100)
    prefer_codec(peer.pc.addTransceiver(peer.voice, direction="sendrecv"), "audio/opus")
    await peer.pc.setLocalDescription(await peer.pc.createOffer())
    try:
        response = await page.post("webrtc", {"sdp": peer.pc.localDescription.sdp, "type": "offer"})
        response.raise_for_status()
        answer = response.json()
        await peer.pc.setRemoteDescription(RTCSessionDescription(answer["sdp"], answer["type"]))
    except BaseException:
        await peer.close()
        raise
    return peer
