"""The benchmark of several servers counts what it claims to: each lane's first centre
spread evenly, every execution of a command by its id, a lane's holder by its lease."""

from __future__ import annotations

import itertools
import logging
from collections import Counter

from bench.cluster_load import holder_pid, lane_cycle
from bench.lane_fleet import Executions, rotated


def test_each_centre_is_first_for_an_equal_share_of_the_lanes() -> None:
    urls = ["ws://a", "ws://b", "ws://c"]
    firsts = Counter(rotated(urls, n)[0] for n in range(3000))
    assert firsts == {"ws://a": 1000, "ws://b": 1000, "ws://c": 1000}
    assert sorted(rotated(urls, 4)) == sorted(urls)  # every lane still has every centre


def test_executions_are_counted_per_command_id_from_the_agents_log() -> None:
    counting = Executions()
    log = logging.getLogger("seat.lane.test-fleet")
    log.setLevel(logging.INFO)
    log.propagate = False
    log.addHandler(counting)
    try:
        for command_id in ("c1", "c2", "c1"):
            log.info("lane.command.ended lane=%s command_id=%s refused=%s", "L1", command_id, None)
        log.info("lane.link.up lane=%s server=%s", "L1", "c3")  # not an execution
    finally:
        log.removeHandler(counting)
    assert counting.counts == {"c1": 2, "c2": 1}


def test_a_round_of_the_lane_cycle_opens_every_lane_once() -> None:
    lanes = [f"L{n}" for n in range(50)]
    opened = list(itertools.islice(lane_cycle(lanes, 7), 100))
    first, second = opened[:50], opened[50:]
    assert sorted(first) == sorted(lanes) == sorted(second)
    assert first != second


def test_the_holder_is_read_from_a_server_id_whose_host_has_dashes() -> None:
    assert holder_pid("seat-centre-2-4711-a1b2c3") == 4711
