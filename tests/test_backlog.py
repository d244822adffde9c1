"""What a console tab has yet to be sent, driven with literals."""

from __future__ import annotations

from console.backlog import Backlog


def drain(backlog: Backlog[str]) -> list[str]:
    taken = []
    while (item := backlog.take()) is not None:
        taken.append(item)
    return taken


def test_lane_update_replaces_a_waiting_one_of_that_lane_in_its_place() -> None:
    """The tab gets each lane's latest state, in the order lanes first changed."""
    backlog: Backlog[str] = Backlog(limit=10)
    backlog.put("P1 rising", key="P1")
    backlog.put("P2 up", key="P2")
    backlog.put("P1 up", key="P1")
    assert drain(backlog) == ["P1 up", "P2 up"]


def test_a_lane_changing_fast_keeps_the_backlog_to_one_item_per_lane() -> None:
    """However fast lanes change, the backlog is bounded by the number of lanes."""
    backlog: Backlog[str] = Backlog(limit=10)
    for n in range(10_000):
        backlog.put(f"P{n % 3} #{n}", key=f"P{n % 3}")
    assert not backlog.overflowed
    assert drain(backlog) == ["P0 #9999", "P1 #9997", "P2 #9998"]


def test_lane_taken_then_changed_again_is_queued_again() -> None:
    """A change after the tab was sent the lane is not lost."""
    backlog: Backlog[str] = Backlog(limit=10)
    backlog.put("P1 up", key="P1")
    assert backlog.take() == "P1 up"
    backlog.put("P1 down", key="P1")
    assert drain(backlog) == ["P1 down"]


def test_items_without_a_key_each_wait_their_turn_up_to_the_limit() -> None:
    """Ledger entries are not replaced; more than the limit waiting means a stuck tab."""
    backlog: Backlog[str] = Backlog(limit=3)
    for n in range(3):
        backlog.put(f"entry {n}")
    backlog.put("P1 up", key="P1")
    assert not backlog.overflowed
    backlog.put("entry 3")
    assert backlog.overflowed
    assert drain(backlog) == ["entry 0", "entry 1", "entry 2", "P1 up"]
