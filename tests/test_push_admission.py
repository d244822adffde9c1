"""Who the lane's push server lets in, counted without sockets."""

from __future__ import annotations

from gates.hardware.admission import (
    Admission,
    Caps,
    Quieted,
    Verdict,
    body_deadline,
    peer_address,
)

CAPS = Caps(per_device=2, per_stranger=2, strangers=3)


def test_a_device_has_its_own_budget_that_strangers_do_not_use() -> None:
    admission = Admission({"10.0.0.5"}, CAPS)
    strangers = [admission.admit(f"10.0.0.{9 + n % 2}") for n in range(10)]
    assert [s.verdict for s in strangers] == [Verdict.REFUSE] * 3 + [Verdict.DROP] * 7
    assert {s.reason for s in strangers[3:]} == {"strangers_busy"}
    camera = [admission.admit("10.0.0.5") for _ in range(3)]
    assert [c.verdict for c in camera] == [Verdict.ADMIT, Verdict.ADMIT, Verdict.DROP]
    assert camera[2].reason == "device_busy"
    admission.release(camera[0])
    admission.release(camera[2])  # a dropped connection was never counted
    assert admission.open("10.0.0.5") == 1
    assert admission.admit("10.0.0.5").verdict is Verdict.ADMIT


def test_one_stranger_cannot_take_the_strangers_whole_budget() -> None:
    admission = Admission(set(), CAPS)
    first = [admission.admit("10.0.0.9") for _ in range(3)]
    assert [f.verdict for f in first] == [Verdict.REFUSE, Verdict.REFUSE, Verdict.DROP]
    assert first[2].reason == "stranger_busy"
    assert admission.admit("10.0.0.10").verdict is Verdict.REFUSE
    assert admission.admit("10.0.0.11").reason == "strangers_busy"
    admission.release(first[0])
    assert admission.admit("10.0.0.11").verdict is Verdict.REFUSE


def test_devices_added_later_are_known() -> None:
    devices: dict[str, object] = {}
    admission = Admission(devices.keys(), CAPS)
    assert admission.admit("10.0.0.5").verdict is Verdict.REFUSE
    devices["10.0.0.5"] = object()
    assert admission.admit("10.0.0.5").verdict is Verdict.ADMIT


def test_an_ipv4_camera_seen_on_an_ipv6_listener_is_its_ipv4_address() -> None:
    assert peer_address("::ffff:10.0.0.5") == "10.0.0.5"
    assert peer_address("fd00::5") == "fd00::5"
    assert Admission({"10.0.0.5"}, CAPS).admit("::ffff:10.0.0.5").verdict is Verdict.ADMIT


def test_a_body_must_keep_up_its_rate_after_the_grace() -> None:
    assert body_deadline(100.0, 0, 5.0, 1000) == 105.0
    assert body_deadline(100.0, 20_000, 5.0, 1000) == 125.0


def test_a_stranger_hammering_the_port_is_logged_once_a_minute_with_its_count() -> None:
    quiet = Quieted(every_s=60.0, keep=2)
    assert quiet.note("10.0.0.9", 0.0) == 1
    assert [quiet.note("10.0.0.9", t) for t in (1.0, 2.0, 59.0)] == [None, None, None]
    assert quiet.note("10.0.0.9", 60.0) == 4  # this one and the three held back
    assert quiet.note("10.0.0.8", 61.0) == 1  # another address is its own
    assert quiet.note("10.0.0.7", 200.0) == 1  # past keep: those gone quiet are forgotten
    assert quiet.note("10.0.0.9", 201.0) == 1  # forgotten, so logged at once


def test_addresses_rotated_by_the_thousand_are_held_to_the_bound() -> None:
    """A LAN peer rotating its source address (IPv6 makes it cheap) costs a bounded
    table: each note is constant work, however many addresses came before."""
    quiet = Quieted(every_s=60.0, keep=64)
    assert all(quiet.note(f"fd00::{n:x}", n / 1000) == 1 for n in range(20_000))
    assert len(quiet._since) == 64
