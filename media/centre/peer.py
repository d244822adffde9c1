"""What every peer connection the centre answers has in common, a viewer's
(``media.centre.viewer``) or a caller's phone (``media.centre.phone``): the offer is
checked before it exists, it is closed once however it ends (the browser left, ICE or
DTLS failed, the centre closed it), and Opus it receives is read undecoded
(``media.centre.opus``) for as long as it lasts."""

from __future__ import annotations

import abc
import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import ClassVar

import aioice
import aioice.ice
from aiortc import (
    RTCBundlePolicy,
    RTCConfiguration,
    RTCIceServer,
    RTCPeerConnection,
    RTCRtpSender,
    RTCRtpTransceiver,
)
from aiortc.mediastreams import MediaStreamError, MediaStreamTrack
from aiortc.sdp import SessionDescription

from media.centre.internals import require
from media.centre.opus import opus_units
from media.errors import OfferRefused
from media.units import MediaUnit

log = logging.getLogger("seat.media")

MAX_SDP_BYTES = 64 * 1024

# aioice checks an idle pair's consent every 5 s and gives up after 6 misses: a killed
# browser would hold its peer connection (and a viewer the lane's upstream) for ~30 s.
# Once a second and 3 misses ends it in ~4 s (RFC 7675 allows any interval under 30 s).
# aioice has no per-connection setting: ``Connection.query_consent`` reads these module
# constants on each round, so this sets them for the whole centre process.
CONSENT_INTERVAL_S = 1
CONSENT_FAILURES = 3

require(
    "media.peer",
    "aioice",
    aioice.__version__,
    "0.13",
    {
        "ice.Connection.query_consent": (
            getattr(aioice.ice.Connection, "query_consent", None),
            {"CONSENT_INTERVAL", "CONSENT_FAILURES"},
        )
    },
    "a vanished browser would hold its peer connection for aioice's default ~30 s",
)
aioice.ice.CONSENT_INTERVAL = CONSENT_INTERVAL_S
aioice.ice.CONSENT_FAILURES = CONSENT_FAILURES

# Every section on one transport from the start. Under aiortc's default ("balanced") a
# second transceiver of a kind (a listener's second audio track) is put on the first's
# transport and marked bundled, so when the offer's BUNDLE moves the first onto the
# video's transport the second is left on one that is then stopped, and never sends
# (aiortc 1.16). Browsers bundle every section anyway.
BUNDLE = RTCBundlePolicy.MAX_BUNDLE


def read_offer(sdp: str) -> SessionDescription:
    """A browser's offer, parsed; ``OfferRefused`` if it is too large or not SDP."""
    if len(sdp.encode("utf-8")) > MAX_SDP_BYTES:
        raise OfferRefused("sdp_too_large", f"an offer is at most {MAX_SDP_BYTES} bytes")
    try:
        return SessionDescription.parse(sdp)
    except (ValueError, IndexError, KeyError, AttributeError, TypeError, AssertionError) as exc:
        raise OfferRefused("malformed_sdp", f"the offer is not valid SDP: {exc}") from None


def require_ice(parsed: SessionDescription) -> None:
    """The centre takes no trickled candidates: the offer must carry ICE credentials."""
    if any(media.ice is None or not media.ice.usernameFragment for media in parsed.media):
        raise OfferRefused("malformed_sdp", "the offer carries no ICE credentials")


class Peer(abc.ABC):
    """A peer connection; ``on_connected`` runs when ICE and DTLS are up. A kind of peer
    says what it sends from, who keeps it and how it is named."""

    role: ClassVar[str]  # what it is in log lines: media.{role}.state

    def __init__(
        self,
        peer_id: str,
        *,
        ice_servers: list[RTCIceServer],
        on_connected: Callable[[], None] | None = None,
    ) -> None:
        self.id = peer_id
        self._on_connected = on_connected
        self._closed = False
        self._tasks: set[asyncio.Task[None]] = set()
        self.pc = RTCPeerConnection(RTCConfiguration(iceServers=ice_servers, bundlePolicy=BUNDLE))
        self.pc.on("connectionstatechange", self._state_changed)

    @property
    def closed(self) -> bool:
        return self._closed

    async def close(self) -> None:
        if self._closed:
            return
        self._closed = True
        for task in list(self._tasks):
            task.cancel()
        self._stop_sending()
        await self.pc.close()
        self._ended()

    @abc.abstractmethod
    def _stop_sending(self) -> None:
        """Stop the feeds this peer sends from."""

    @abc.abstractmethod
    def _ended(self) -> None:
        """Closed: tell whoever keeps it."""

    @abc.abstractmethod
    def _names(self) -> str:
        """Who this is, for log lines."""

    async def _state_changed(self) -> None:
        state = self.pc.connectionState
        log.info("media.%s.state %s state=%s", self.role, self._names(), state)
        if state == "connected" and self._on_connected is not None:
            self._on_connected()
        elif state in ("failed", "closed"):
            await self.close()

    def _relay(
        self, track: MediaStreamTrack, deliver: Callable[[MediaUnit], Awaitable[None]]
    ) -> None:
        """Hand each Opus packet of a ``passthrough_opus`` receiver's track to
        ``deliver`` until the track ends. The track is always read: a received track
        nobody reads queues frames without bound."""

        async def relay() -> None:
            with contextlib.suppress(MediaStreamError):
                async for unit in opus_units(track):
                    await deliver(unit)

        task = asyncio.create_task(relay())
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)


def prefer_codec(transceiver: RTCRtpTransceiver, mime: str) -> None:
    """Offer or answer only ``mime`` on this transceiver (e.g. "video/H264"): a peer
    that negotiates anything else cannot use the lane's passed-through units."""
    codecs = RTCRtpSender.getCapabilities(transceiver.kind).codecs
    transceiver.setCodecPreferences([c for c in codecs if c.mimeType.lower() == mime.lower()])
