"""Live views of any lane of the centre: a browser's offer is answered by the media
bridge of the server that holds the lane, whichever server the browser asked.

A lane's media connection is to the server its link is on, so that server answers,
and the browser's peer connection goes straight to it (its ICE candidates are that
server's): no video crosses between servers. The server the browser asked only passes
the offer and the answer, and records the view in the ledger as for its own lanes; the
holder records its end, when its bridge sees the viewer go.
"""

from __future__ import annotations

from redis.exceptions import RedisError

from media.centre.bridge import MediaBridge
from media.centre.viewing import Viewing, Watcher
from media.errors import IntercomBusy, LaneOffline, MediaError, OfferRefused

from .leases import key
from .requests import Body, PeerError, PeerGone, Refusal, Requests, Unheld, lane_of

# An answer takes the holder's ICE gathering (host candidates: milliseconds; a STUN
# server: up to a few seconds).
WATCH_WAIT_S = 10.0
FIND_WAIT_S = 2.0


class Views:
    """``watch``, ``find`` and ``release`` of viewers, on this server's bridge when the
    lane is here or there is no other server, else on the holder's."""

    def __init__(self, bridge: MediaBridge, requests: Requests | None) -> None:
        self.bridge = bridge
        self.requests = requests
        if requests is not None:
            requests.answer("watch", self._answer_watch)
            requests.answer("viewer", self._answer_viewer)
            requests.answer("unwatch", self._answer_unwatch)

    async def watch(
        self, lane: str, sdp: str, watcher: Watcher, *, talk: bool, listen: bool
    ) -> tuple[Viewing, str]:
        """As ``MediaBridge.watch``; raises its ``MediaError``s wherever the lane is."""
        body = {
            "lane": lane,
            "sdp": sdp,
            "watcher": [watcher.username, watcher.role, watcher.remote],
            "talk": talk,
            "listen": listen,
        }
        answer = await self._ask(lane, "watch", body, WATCH_WAIT_S)
        if answer is None:
            return await self.bridge.watch(lane, sdp, watcher, talk=talk, listen=listen)
        viewing = Viewing(str(answer["viewer"]), lane, watcher, talk=talk, listen=listen or talk)
        return viewing, str(answer["sdp"])

    async def find(self, lane: str, viewer_id: str) -> Viewing | None:
        answer = await self._ask(lane, "viewer", {"viewer": viewer_id}, FIND_WAIT_S)
        if answer is None:
            return self.bridge.viewer(viewer_id)
        return _viewing(answer) if answer.get("viewer") else None

    async def release(self, lane: str, viewer_id: str) -> bool:
        answer = await self._ask(lane, "unwatch", {"viewer": viewer_id}, FIND_WAIT_S)
        if answer is None:
            return await self.bridge.release(viewer_id)
        return answer.get("released") is True

    async def _ask(self, lane: str, op: str, body: Body, wait_s: float) -> Body | None:
        """The answer of the lane's server; None when that is this one (or there is no
        other), whose bridge then answers."""
        if self.requests is None or self.bridge.hub.status(lane).online:
            return None
        try:
            return await self.requests.ask_holder(key(lane), op, body, wait_s)
        except Unheld as exc:
            if exc.server is None:
                raise LaneOffline("the lane is offline") from exc
            return None
        except PeerGone as exc:
            raise LaneOffline("the lane's server is gone") from exc
        except PeerError as exc:
            raise _media_error(exc) from exc
        except RedisError as exc:
            raise LaneOffline(f"the lane's server cannot be reached ({exc!r})") from exc

    # ----------------------------------------------------------------- answering

    async def _answer_watch(self, body: Body) -> Body:
        lane, sdp, who = lane_of(body), body.get("sdp"), body.get("watcher")
        talk, listen = body.get("talk"), body.get("listen")
        if not (
            isinstance(sdp, str)
            and isinstance(talk, bool)
            and isinstance(listen, bool)
            and isinstance(who, list)
            and len(who) == 3
            and all(isinstance(part, str) for part in who)
        ):
            raise Refusal("bad_request", "a watch needs lane, sdp, watcher, talk and listen")
        watcher = Watcher(who[0], who[1], who[2])
        try:
            viewing, answer = await self.bridge.watch(lane, sdp, watcher, talk=talk, listen=listen)
        except MediaError as exc:
            raise Refusal(exc.code, exc.detail, **exc.extra) from exc
        return {"viewer": viewing.id, "sdp": answer}

    async def _answer_viewer(self, body: Body) -> Body:
        viewing = self.bridge.viewer(_viewer_id(body))
        if viewing is None:
            return {"viewer": None}
        who = viewing.watcher
        return {
            "viewer": viewing.id,
            "lane": viewing.lane,
            "watcher": [who.username, who.role, who.remote],
            "talk": viewing.talk,
            "listen": viewing.listen,
        }

    async def _answer_unwatch(self, body: Body) -> Body:
        return {"released": await self.bridge.release(_viewer_id(body))}


def _viewer_id(body: Body) -> str:
    viewer = body.get("viewer")
    if not isinstance(viewer, str):
        raise Refusal("bad_request", "a viewer request needs the viewer's id")
    return viewer


def _viewing(answer: Body) -> Viewing:
    who = answer["watcher"]
    return Viewing(
        str(answer["viewer"]),
        str(answer["lane"]),
        Watcher(str(who[0]), str(who[1]), str(who[2])),
        talk=bool(answer["talk"]),
        listen=bool(answer["listen"]),
    )


def _media_error(exc: PeerError) -> MediaError:
    """The holder's refusal as the same error it raised there."""
    if exc.code == IntercomBusy.code:
        return IntercomBusy(exc.detail, **exc.extra)
    if exc.code == LaneOffline.code:
        return LaneOffline(exc.detail, **exc.extra)
    return OfferRefused(exc.code, exc.detail)
