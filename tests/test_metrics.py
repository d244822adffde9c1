"""``GET /metrics``: a real centre's figures as Prometheus reads them, and who may
read them."""

from __future__ import annotations

import ipaddress

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from console.metrics import access_refusal
from console.settings import Settings
from gates.lane.drivers import CallPressed
from media.lane.camera import SyntheticCamera
from media.lane.publisher import Publisher
from media.lane.voice import RecordingSpeaker, ToneMicrophone
from tests.conftest import Centre, LaneFactory
from tests.viewers import ViewerPeer, watch

TOKEN = "0123456789abcdef0123456789abcdef-metrics"


async def scrape(centre: Centre) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample, by name and labels."""
    async with httpx.AsyncClient(base_url=centre.url) as client:
        response = await client.get("/metrics")
    assert response.status_code == 200, response.text
    assert response.headers["content-type"].startswith("text/plain")
    return {
        (sample.name, tuple(sorted(sample.labels.items()))): sample.value
        for family in text_string_to_metric_families(response.text)
        for sample in family.samples
    }


def value(
    samples: dict[tuple[str, tuple[tuple[str, str], ...]], float], name: str, **labels: str
) -> float:
    return samples[(name, tuple(sorted(labels.items())))]


async def test_a_command_counts_by_outcome_and_lands_in_the_histogram(
    staffed: Centre, lanes: LaneFactory
) -> None:
    lane = await lanes("P1-OUT")
    before = await scrape(staffed)
    assert value(before, "seat_lanes_online") == 1
    for outcome in ("done", "refused", "timeout", "lane_offline"):
        assert value(before, "seat_commands_total", outcome=outcome) == 0
    assert value(before, "seat_command_seconds_count") == 0
    ledger = value(before, "seat_ledger_append_seconds_count")
    async with staffed.client("alice") as client:
        done = await client.post("/api/lanes/P1-OUT/open", json={"reason": "paid_not_lifted"})
        lane.driver.refuse = "barrier_fault"
        refused = await client.post("/api/lanes/P1-OUT/display", json={"lines": ["请稍候"]})
    assert (done.json()["outcome"], refused.json()["outcome"]) == ("done", "refused")
    after = await scrape(staffed)
    assert value(after, "seat_commands_total", outcome="done") == 1
    assert value(after, "seat_commands_total", outcome="refused") == 1
    assert value(after, "seat_command_seconds_count") == 2
    assert value(after, "seat_command_seconds_bucket", le="+Inf") == 2
    assert value(after, "seat_command_seconds_sum") > 0
    # Each command: its request and its outcome, each its own append; and the login.
    assert value(after, "seat_ledger_append_seconds_count") == ledger + 5
    assert value(after, "seat_ledger_append_seconds_bucket", le="+Inf") == ledger + 5


async def test_a_command_to_an_offline_lane_counts_as_lane_offline(staffed: Centre) -> None:
    await staffed.add_lane("P2-OUT")
    async with staffed.client("alice") as client:
        answer = await client.post("/api/lanes/P2-OUT/open", json={"reason": "paid_not_lifted"})
    assert answer.json()["outcome"] == "lane_offline"
    samples = await scrape(staffed)
    assert value(samples, "seat_commands_total", outcome="lane_offline") == 1
    assert value(samples, "seat_lanes_online") == 0


async def test_ledger_appends_count_every_entry_of_a_write(centre: Centre) -> None:
    """Entries written together with the rows they describe count one each, like an
    entry appended alone: the start's ``centre_started`` is one."""
    samples = await scrape(centre)
    assert value(samples, "seat_ledger_append_seconds_count") == await centre.store.audit_count()


async def test_a_live_viewer_and_a_waiting_call_count(
    staffed: Centre, lanes: LaneFactory, peers: list[ViewerPeer]
) -> None:
    token = await staffed.add_lane("L1")
    publisher = Publisher(
        "L1",
        token,
        camera=lambda: SyntheticCamera("L1", size=(320, 240), fps=15, gop=15),
        microphone=ToneMicrophone,
        speaker=RecordingSpeaker(),
    )
    lane = await lanes("L1", publisher=publisher)
    before = await scrape(staffed)
    assert (value(before, "seat_viewers"), value(before, "seat_calls_waiting")) == (0, 0)
    async with staffed.client("alice") as client:
        peer = await watch(client, "L1")
        peers.append(peer)
        await peer.wait_frames(1)
        lane.driver.emit(CallPressed())
        await staffed.wait_status("L1", lambda status: status.last_call_at is not None)
        watching = await scrape(staffed)
        assert value(watching, "seat_viewers") == 1
        assert value(watching, "seat_calls_waiting") == 1
        left = await client.delete(f"/api/lanes/L1/webrtc/{peer.viewer_id}")
        assert left.status_code == 204
    assert value(await scrape(staffed), "seat_viewers") == 0


# ------------------------------------------------------------------ access


TRUSTING_THIS_MACHINE = {"trusted_proxies": (ipaddress.ip_network("127.0.0.1/32"),)}


@pytest.mark.parametrize("settings", [TRUSTING_THIS_MACHINE], indirect=True)
async def test_without_a_token_another_machine_is_refused(centre: Centre) -> None:
    """Through a trusted proxy the client is the address it forwards: not this machine."""
    async with httpx.AsyncClient(base_url=centre.url) as client:
        refused = await client.get("/metrics", headers={"X-Forwarded-For": "203.0.113.9"})
        local = await client.get("/metrics", headers={"X-Forwarded-For": "127.0.0.1"})
    assert refused.status_code == 403
    assert refused.json()["error"] == "metrics_local_only"
    assert "seat_" not in refused.text
    assert local.status_code == 200


@pytest.mark.parametrize(
    "settings",
    [{"metrics_token": TOKEN, **TRUSTING_THIS_MACHINE}],
    indirect=True,
)
async def test_with_a_token_a_scrape_must_carry_it(centre: Centre) -> None:
    far = {"X-Forwarded-For": "203.0.113.9"}
    async with httpx.AsyncClient(base_url=centre.url) as client:
        missing = await client.get("/metrics")
        wrong = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}x"})
        right = await client.get("/metrics", headers={"Authorization": f"Bearer {TOKEN}", **far})
        lower = await client.get("/metrics", headers={"Authorization": f"bearer {TOKEN}"})
        malformed = [
            await client.get("/metrics", headers={"Authorization": header})
            for header in (
                "Bearer",
                f"Bearer\t{TOKEN}",
                f"Basic {TOKEN}",
                f"Bearer  {TOKEN}",
                f"Bearer {TOKEN} extra",
                TOKEN,
            )
        ]
        malformed.append(
            await client.get(
                "/metrics",
                headers={b"Authorization": f"Bearer {TOKEN[:8]}\xe9{TOKEN[8:]}".encode("latin-1")},
            )
        )
        twice = await client.get(
            "/metrics",
            headers=[("Authorization", f"Bearer {TOKEN}"), ("Authorization", f"Bearer {TOKEN}")],
        )
    assert (missing.status_code, missing.json()["error"]) == (401, "not_authenticated")
    assert missing.headers["www-authenticate"].startswith("Bearer")
    assert (wrong.status_code, wrong.json()["error"]) == (401, "bad_token")
    assert "seat_commands_total" not in wrong.text
    assert right.status_code == 200 and "seat_commands_total" in right.text
    assert lower.status_code == 200
    for answer in [*malformed, twice]:
        assert (answer.status_code, answer.json()["error"]) == (401, "bad_authorization")


def test_the_access_rule() -> None:
    for local in ("127.0.0.1", "127.8.9.10", "::1", "::ffff:127.0.0.1"):
        assert access_refusal(None, [], local) is None
    for far in ("10.0.0.5", "203.0.113.9", "::ffff:10.0.0.5", "2001:db8::1", "", "unknown"):
        refusal = access_refusal(None, [], far)
        assert refusal is not None and (refusal.status, refusal.code) == (403, "metrics_local_only")
    # With a token, where the scrape comes from does not matter; the token does.
    assert access_refusal(TOKEN, [f"Bearer {TOKEN}"], "203.0.113.9") is None
    refusal = access_refusal(TOKEN, [], "127.0.0.1")
    assert refusal is not None and refusal.code == "not_authenticated"
    refusal = access_refusal(TOKEN, [f"Bearer {TOKEN[:-1]}"], "127.0.0.1")
    assert refusal is not None and refusal.code == "bad_token"


def test_the_metrics_token_setting() -> None:
    assert Settings.from_env({}).metrics_token is None
    assert Settings.from_env({"SEAT_METRICS_TOKEN": TOKEN}).metrics_token == TOKEN
    for bad in ("short", "a" * 31, "has spaces in it but is long enough, see", "ü" * 40):
        with pytest.raises(ValueError, match="SEAT_METRICS_TOKEN"):
            Settings.from_env({"SEAT_METRICS_TOKEN": bad})
    assert TOKEN not in repr(Settings.from_env({"SEAT_METRICS_TOKEN": TOKEN}))
