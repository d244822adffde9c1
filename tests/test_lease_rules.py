"""The rules of lane leases and the lane status servers tell each other, without Redis."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from console.cluster import status_wire
from console.cluster.lease_rules import LeasePolicy, Tenure, handover_wait_s, stale_holders
from console.settings import Settings
from gates.centre.link import HeartbeatPolicy
from gates.centre.status import ActiveFault, LaneStatus, LastVehicle
from gates.protocol import DisplaySize
from gates.vocabulary import GateState, PlateColour


def test_a_lease_lives_as_long_as_the_slowest_lane_may_be_silent() -> None:
    policy = LeasePolicy.for_heartbeat(HeartbeatPolicy(max_ms=5000, grace=2.5))
    assert policy.ttl_s == 12.5 and policy.ttl_ms == 12500
    assert policy.renew_s == pytest.approx(3.125)


@pytest.mark.parametrize("ttl_s", [0.0, -1.0, float("nan")])
def test_a_lease_must_live_a_while(ttl_s: float) -> None:
    with pytest.raises(ValueError, match="lease"):
        LeasePolicy(ttl_s)


def test_a_lease_is_let_go_before_redis_can_expire_it() -> None:
    """Counted from when its renewal was SENT, less a margin: Redis started counting
    later, so the lease still stands when the server lets go."""
    policy = LeasePolicy(4.0)
    tenure = Tenure(policy)
    tenure.taken("L1", sent_at=100.0)
    assert tenure.next_due() == 103.0 < 100.0 + policy.ttl_s
    assert tenure.due(102.99) == [] and tenure.holds("L1")
    assert tenure.due(103.0) == ["L1"]
    assert not tenure.holds("L1") and tenure.next_due() is None


def test_two_renewals_may_fail_in_a_row_before_the_server_lets_go() -> None:
    policy = LeasePolicy(4.0)
    tenure = Tenure(policy)
    tenure.taken("L1", sent_at=0.0)
    # Renewals every 1 s; those sent at 1 s and 2 s fail, the one at 3 s is too late.
    assert tenure.due(2.99) == []
    assert tenure.due(3.0) == ["L1"]


def test_a_renewal_extends_only_the_leases_still_held() -> None:
    tenure = Tenure(LeasePolicy(4.0))
    tenure.taken("L1", 0.0)
    tenure.taken("L2", 0.0)
    tenure.let_go("L2")
    tenure.renewed(["L1", "L2"], sent_at=1.0)
    assert tenure.held == ["L1"] and tenure.next_due() == 4.0


def test_a_renewal_answered_late_never_shortens_a_lease() -> None:
    tenure = Tenure(LeasePolicy(4.0))
    tenure.taken("L1", 5.0)
    tenure.renewed(["L1"], sent_at=4.0)  # sent before the take, answered after it
    assert tenure.next_due() == 8.0


def test_fencing_looks_again_before_any_lease_can_fall_due() -> None:
    """At the earliest lease's safe time; with none held, no later than a lease taken
    now could fall due: a lease taken later falls due later still."""
    policy = LeasePolicy(4.0)
    tenure = Tenure(policy)
    assert tenure.next_look(now=10.0) == 13.0 == policy.safe_until(10.0)
    tenure.taken("L1", sent_at=10.5)
    tenure.taken("L2", sent_at=11.0)
    assert tenure.next_look(now=12.0) == 13.5
    tenure.renewed(["L1", "L2"], sent_at=12.0)
    assert tenure.next_look(now=12.5) == 15.0


@pytest.mark.parametrize(
    ("pttl_ms", "wait_s"),
    [
        (1500, 1.5),  # until it expires
        (0, 0.001),  # about to: a moment, not a busy loop
        (-2, 0.0),  # gone already: ask again now
        (-1, 4.0),  # no expiry: not a lease; wait one lease life, then give up
        (60_000, 4.0),  # never longer than a lease can live
    ],
)
def test_a_server_waits_for_another_servers_lease_to_end(pttl_ms: int, wait_s: float) -> None:
    assert handover_wait_s(pttl_ms, LeasePolicy(4.0)) == wait_s


def test_lanes_whose_server_lost_its_lease_count_as_offline() -> None:
    seen = {"L1": "a", "L2": "b", "L3": "b"}
    assert stale_holders(seen, {"L1": "a", "L2": None, "L3": "a"}) == ["L2", "L3"]
    assert stale_holders(seen, {"L1": "a", "L2": "b", "L3": "b"}) == []


def test_a_status_crosses_between_servers_whole() -> None:
    at = datetime(2026, 11, 23, 11, 32, 4, 123000, tzinfo=UTC)
    status = LaneStatus(
        "P1-OUT",
        online=True,
        gate=GateState.UP,
        last_vehicle=LastVehicle("粤B12345", PlateColour.BLUE, 0.97, at, (1, 2, 3, 4)),
        snapshot=b"\xff\xd8jpeg\x00",
        last_call_at=at,
        faults=(ActiveFault("camera_unavailable", "no picture", at),),
        display=DisplaySize(2, 16),
    )
    assert status_wire.decode(status_wire.encode("server-b", status)) == ("server-b", status)
    bare = LaneStatus("P2-IN")
    assert status_wire.decode(status_wire.encode("server-a", bare)) == ("server-a", bare)


@pytest.mark.parametrize(
    "data",
    [b"", b"[]", b'{"server": "b"}', b"\xff", status_wire.encode("b", LaneStatus("L")) + b"x"],
)
def test_a_garbled_status_is_refused(data: bytes) -> None:
    with pytest.raises((ValueError, KeyError, TypeError)):
        status_wire.decode(data)


def test_the_lease_life_is_set_or_follows_the_heartbeat() -> None:
    assert Settings.from_env({}).lease == LeasePolicy.for_heartbeat(HeartbeatPolicy())
    assert Settings.from_env({"SEAT_LANE_LEASE_S": "3.5"}).lease == LeasePolicy(3.5)


@pytest.mark.parametrize("raw", ["-1", "soon", "inf"])
def test_a_bad_lease_life_is_refused_by_name(raw: str) -> None:
    with pytest.raises(ValueError, match="SEAT_LANE_LEASE_S"):
        Settings.from_env({"SEAT_LANE_LEASE_S": raw})
