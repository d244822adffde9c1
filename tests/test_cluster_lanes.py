"""Two servers of one centre: a lane held by one is seen, opened, told and watched
from the other, and its status follows it (real Redis, WebSockets and media)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable
from pathlib import Path

import pytest

from console.cluster.lanes import STATUS_KEY
from console.cluster.leases import key
from console.cluster.redis_link import RedisLink
from console.cluster.requests import PeerError, Requests
from console.ledger import AuditAction, AuditEntry
from console.models import Role
from console.settings import Settings
from gates.centre.commands import Outcome
from gates.centre.status import LaneStatus
from gates.lane.agent import Uplink
from gates.lane.drivers import LaneEvent
from gates.lane.targets import Target
from gates.protocol import DeviceInfo, Media, OpenGate
from media.lane.camera import SyntheticCamera
from media.lane.publisher import Publisher
from media.lane.voice import RecordingSpeaker, ToneMicrophone
from tests.conftest import TEST_POLICY, Centre, Lane, start_lane, wait_status
from tests.desks import desk
from tests.lanes import seen
from tests.services import RedisServer
from tests.viewers import ViewerPeer, watch

LANE = "P1-OUT"


@pytest.fixture
def settings(tmp_path: Path) -> Settings:
    return Settings(
        data_dir=tmp_path,
        port=0,
        command_timeout_s=3.0,
        heartbeat=TEST_POLICY,
        lane_lease_s=2.0,
        media_grace_s=0.3,
    )


@pytest.fixture
async def pair(cluster: list[Centre]) -> AsyncIterator[tuple[Centre, Centre]]:
    """Servers A and B, both linked to Redis, with staff added through A."""
    a, b = cluster
    for centre in cluster:
        assert centre.redis is not None
        async with asyncio.timeout(10):
            await centre.redis.wait_up()
    await a.add_user("alice", Role.AGENT)
    await a.add_user("sue", Role.SUPERVISOR)
    yield a, b


class RecordingUplink:
    """A lane's media uplink that records what the centre asks it to stream."""

    def __init__(self) -> None:
        self.wanted: asyncio.Queue[Media] = asyncio.Queue()

    def want(self, media: Media, link: Target) -> None:
        self.wanted.put_nowait(media)

    def stop(self) -> None:
        pass

    async def run(self, report: Callable[[LaneEvent], None]) -> None:
        await asyncio.get_running_loop().create_future()


def audit_of(centre: Centre, action: AuditAction) -> asyncio.Future[None]:
    """Resolves when ``centre`` writes an entry of ``action`` to the ledger."""
    seen: asyncio.Future[None] = asyncio.get_running_loop().create_future()

    def check(entry: AuditEntry) -> None:
        if entry.action is action and not seen.done():
            seen.set_result(None)

    centre.audit.subscribe(check)
    return seen


def camera_of(token: str) -> Publisher:
    """The lane's camera and intercom, connecting where the lane's link is."""
    return Publisher(
        LANE,
        token,
        camera=lambda: SyntheticCamera(LANE, size=(320, 240), fps=15, gop=15),
        microphone=ToneMicrophone,
        speaker=RecordingSpeaker(),
    )


def online(status: LaneStatus) -> bool:
    return status.online


def offline(status: LaneStatus) -> bool:
    return not status.online


async def lane_on(
    holder: Centre,
    other: Centre,
    lane_id: str = LANE,
    publisher: Uplink | None = None,
    devices: tuple[DeviceInfo, ...] = (),
) -> Lane:
    """A lane connected to ``holder``, known to ``other`` and seen online there."""
    lane = await start_lane(holder, lane_id, publisher=publisher, devices=devices)
    await other.changes.poll()
    assert other.lanes is not None
    await wait_status(other.lanes, lane_id, online)
    return lane


async def test_an_agent_on_one_server_opens_a_lane_held_by_the_other(
    pair: tuple[Centre, Centre],
) -> None:
    a, b = pair
    lane = await lane_on(b, a)
    assert not a.hub.status(LANE).online  # its link is on B alone
    async with a.client("alice") as client:
        response = await client.post(f"/api/lanes/{LANE}/open", json={"reason": "emergency"})
    assert response.status_code == 200
    body = response.json()
    assert body["outcome"] == "done"
    assert lane.driver.opens == 1
    entries = [e async for e in a.store.iter_audit() if e.command_id == body["command_id"]]
    assert [(e.action, e.actor, e.outcome) for e in entries] == [
        (AuditAction.GATE_OPEN_REQUESTED, "alice", None),
        (AuditAction.GATE_OPEN_OUTCOME, "alice", "done"),
    ]
    await lane.stop()


async def test_a_command_id_sent_twice_across_servers_runs_once(
    pair: tuple[Centre, Centre],
) -> None:
    """Two calls with one id, from the server without the lane, join: one lift."""
    a, b = pair
    lane = await lane_on(b, a)
    assert a.lanes is not None
    command = OpenGate(command_id="c-twice", reason="emergency")
    first, second = await asyncio.gather(
        a.lanes.command(LANE, command, 3.0), a.lanes.command(LANE, command, 3.0)
    )
    again = await a.lanes.command(LANE, command, 3.0)  # after it ended: remembered by B
    assert first == second == again and first.outcome is Outcome.DONE
    assert lane.driver.opens == 1
    await lane.stop()


async def test_a_lane_no_server_holds_is_offline_from_every_server(
    pair: tuple[Centre, Centre],
) -> None:
    a, _ = pair
    await a.add_lane(LANE)
    assert a.lanes is not None
    resolved = await a.lanes.command(LANE, OpenGate(command_id="c-none", reason="emergency"), 1.0)
    assert resolved.outcome is Outcome.LANE_OFFLINE
    assert await a.lanes.notify(LANE, Media(stream="s1", video=True, audio=False)) is False


async def test_display_and_notices_reach_a_lane_on_the_other_server(
    pair: tuple[Centre, Centre],
) -> None:
    a, b = pair
    uplink = RecordingUplink()
    lane = await lane_on(b, a, publisher=uplink)
    async with a.client("alice") as client:
        response = await client.post(f"/api/lanes/{LANE}/display", json={"lines": ["请缴费"]})
    assert response.json()["outcome"] == "done"
    assert lane.driver.shown == ("请缴费",)
    assert a.lanes is not None
    wanted = Media(stream="s-across", video=True, audio=False)
    assert await a.lanes.notify(LANE, wanted) is True
    async with asyncio.timeout(5):
        assert await uplink.wanted.get() == wanted
    await lane.stop()


async def test_redis_keeps_what_other_consoles_show_of_a_lane_and_its_snapshot_is_asked_for(
    pair: tuple[Centre, Centre],
) -> None:
    """A car read at a lane held by B: its field in the status hash holds what A's
    console shows, without the picture, which A asks of B when its console wants it;
    and what the lane said of its devices, which A's console lists."""
    a, b = pair
    cam = DeviceInfo("cam", "alarminfo", ("plates", "gate"), "192.168.1.64")
    lane = await lane_on(b, a, devices=(cam,))
    vehicle = seen()
    lane.driver.emit(vehicle)
    assert a.lanes is not None and b.redis is not None
    await wait_status(a.lanes, LANE, lambda status: status.last_vehicle is not None)
    raw = await b.redis.client.hget(STATUS_KEY, LANE)
    assert raw is not None
    stored = json.loads(raw)
    assert (stored["v"], stored["kind"], stored["from"]) == (1, "lane_status", b.redis.server)
    assert stored["body"] == {
        "lane": LANE,
        "online": True,
        "gate": "down",
        "last_vehicle": {
            "plate": "粤B12345",
            "plate_colour": "blue",
            "confidence": 0.97,
            "at": "2026-11-23T11:32:04.123Z",
            "box": list(vehicle.box),
        },
        "last_call_at": None,
        "faults": [],
        "display": {"lines": 8, "chars": 64},
        "devices": [cam.to_json()],
    }
    assert len(raw) < 1024 < len(vehicle.snapshot_jpeg)
    async with a.client("alice") as client:
        listed = (await client.get("/api/lanes")).json()["lanes"]
        assert [each["devices"] for each in listed if each["id"] == LANE] == [[cam.to_json()]]
        response = await client.get(f"/api/lanes/{LANE}/snapshot")
    assert response.status_code == 200
    assert response.headers["content-type"] == "image/jpeg"
    assert response.content == vehicle.snapshot_jpeg
    await lane.stop()


async def test_a_console_on_one_server_sees_the_others_lane_come_and_go(
    pair: tuple[Centre, Centre],
) -> None:
    a, b = pair
    await b.add_lane(LANE)
    await a.changes.poll()
    async with desk(a, "alice") as tab:
        lane = await start_lane(b, LANE)
        # Online, then its gate as the lane reported it to B.
        await tab.next("lane", lambda m: m["lane"]["id"] == LANE and m["lane"]["online"])
        await tab.next("lane", lambda m: m["lane"]["id"] == LANE and m["lane"]["gate"] == "down")
        await lane.stop()  # its link closes on B: B says so to A
        await tab.next("lane", lambda m: m["lane"]["id"] == LANE and not m["lane"]["online"])
    async with a.client("alice") as client:
        lanes = (await client.get("/api/lanes")).json()["lanes"]
    assert [entry["online"] for entry in lanes if entry["id"] == LANE] == [False]


async def test_a_live_view_asked_of_one_server_is_answered_by_the_lanes_server(
    pair: tuple[Centre, Centre], peers: list[ViewerPeer]
) -> None:
    """The browser's peer connection is with B, where the lane streams; A passed the
    offer and the answer, and the ledger has the view's start and end."""
    a, b = pair
    token = await b.add_lane(LANE)
    lane = await lane_on(b, a, publisher=camera_of(token))
    ended = audit_of(b, AuditAction.WATCH_ENDED)
    async with a.client("alice") as client:
        peer = await watch(client, LANE)
        peers.append(peer)
        assert [v.id for v in b.media.viewers(LANE)] == [peer.viewer_id]
        assert a.media.viewers() == []
        frames = await peer.wait_frames(5)
        assert (frames[-1].width, frames[-1].height) == (320, 240)
        closed = await client.delete(f"/api/lanes/{LANE}/webrtc/{peer.viewer_id}")
        assert closed.status_code == 204
        missing = await client.delete(f"/api/lanes/{LANE}/webrtc/{peer.viewer_id}")
        assert missing.status_code == 404
    async with asyncio.timeout(5):
        await ended
    assert b.media.viewers(LANE) == []
    actions = [e.action async for e in a.store.iter_audit() if e.lane == LANE]
    assert actions.count(AuditAction.WATCH_STARTED) == actions.count(AuditAction.WATCH_ENDED) == 1
    await lane.stop()


async def test_the_lease_names_the_server_that_holds_the_lane(pair: tuple[Centre, Centre]) -> None:
    a, b = pair
    lane = await lane_on(b, a)
    assert b.redis is not None and a.redis is not None
    assert await a.redis.client.get(key(LANE)) == b.redis.server.encode()
    await lane.stop()


async def test_a_live_view_on_the_other_server_ends_with_the_login_that_opened_it(
    pair: tuple[Centre, Centre], peers: list[ViewerPeer]
) -> None:
    a, b = pair
    token = await b.add_lane(LANE)
    lane = await lane_on(b, a, publisher=camera_of(token))
    ended = audit_of(b, AuditAction.WATCH_ENDED)
    async with a.client("alice") as client:
        peer = await watch(client, LANE)
        peers.append(peer)
        assert [v.id for v in b.media.viewers(LANE)] == [peer.viewer_id]
        assert (await client.post("/api/logout")).status_code == 204
        async with asyncio.timeout(5):
            await ended
    assert b.media.viewers(LANE) == []
    await lane.stop()


OPEN = OpenGate(command_id="c0", reason="emergency")


@pytest.mark.parametrize(
    ("op", "body"),
    [
        ("command", {"lane": LANE, "wait_s": 1.0}),
        ("command", {"lane": LANE, "command": "{}", "wait_s": 1.0}),
        ("command", {"lane": LANE, "command": '{"type": "media"}', "wait_s": 1.0}),
        ("command", {"command": OpenGate(command_id="c1", reason="emergency").encode()}),
        ("command", {"lane": 5, "command": "x", "wait_s": "soon"}),
        *(
            ("command", {"lane": LANE, "command": OPEN.encode(), "wait_s": wait_s})
            for wait_s in (True, 1e300, -1.0, 0, 3.5)  # command timeout 3 s
        ),
        ("viewer", {"viewer": None}),
        ("unwatch", {"viewer": ["v1"]}),
        ("notify", {"lane": LANE, "message": OpenGate(command_id="c2", reason="x").encode()}),
        ("notify", {"lane": LANE}),
        ("watch", {"lane": LANE, "sdp": "v=0", "watcher": ["alice"], "talk": False}),
        ("let_go", {"lane": ["P1-OUT"]}),
        # Lane ids as the lane link allows them, whoever names them.
        ("let_go", {"lane": "L" * 65}),
        ("let_go", {"lane": "P1-OUT\n"}),
        ("notify", {"lane": "", "message": Media(stream="s0", video=False, audio=False).encode()}),
        ("command", {"lane": "../P1", "command": OPEN.encode(), "wait_s": 1.0}),
        ("snapshot", {"lane": ["P1-OUT"]}),
    ],
)
async def test_a_malformed_request_between_servers_is_refused_and_changes_nothing(
    pair: tuple[Centre, Centre], redis_server: RedisServer, op: str, body: dict[str, object]
) -> None:
    """What another server (or anyone on Redis) sends a server is read as strictly as
    what a lane sends it."""
    _, b = pair
    lane = await start_lane(b, LANE)
    link = RedisLink(redis_server.url)
    asker = Requests(link)
    await link.start()
    try:
        await asyncio.wait_for(link.wait_up(), 10)
        assert b.redis is not None
        with pytest.raises(PeerError) as refused:
            await asker.ask(b.redis.server, op, body, 5)
        assert refused.value.code == "bad_request"
        assert lane.driver.opens == 0 and lane.driver.shown == ()
        assert b.hub.status(LANE).online and b.media.viewers() == []
    finally:
        await asker.close()
        await link.close()
        await lane.stop()
