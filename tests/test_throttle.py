"""The login throttle's rules, with a clock in the test's hands and no sockets."""

from __future__ import annotations

from console.throttle import IN_FLIGHT_WAIT_S, Alarm, AlarmTrigger, LoginThrottle


def fail(throttle: LoginThrottle, user: str, address: str, now: float) -> list[Alarm]:
    """One admitted attempt with a wrong password."""
    assert throttle.admit(user, address, now) == 0
    return throttle.failed(user, address, now)


def test_five_failures_lock_the_pair_for_thirty_seconds_doubling_to_fifteen_minutes() -> None:
    """The lock grows with each failure past the free ones and is capped."""
    throttle = LoginThrottle()
    for _ in range(5):
        fail(throttle, "alice", "10.0.0.9", 0.0)
    assert throttle.admit("alice", "10.0.0.9", 0.0) == 30.0
    waits = []
    now = 30.0
    for _ in range(6):
        fail(throttle, "alice", "10.0.0.9", now)
        waits.append(throttle.admit("alice", "10.0.0.9", now))
        now += waits[-1]
    assert waits == [60.0, 120.0, 240.0, 480.0, 900.0, 900.0]


def test_a_locked_pair_leaves_the_account_open_to_other_addresses() -> None:
    """The guesser's address is locked out of alice; alice at her desk is not."""
    throttle = LoginThrottle()
    for _ in range(5):
        fail(throttle, "alice", "10.0.0.9", 0.0)
    assert throttle.admit("alice", "10.0.0.9", 1.0) > 0
    assert throttle.admit("alice", "10.0.0.7", 1.0) == 0


def test_a_success_clears_the_pair_but_not_the_address() -> None:
    """A guesser with one real account cannot reset its address's count by using it."""
    throttle = LoginThrottle()
    for n in range(4):
        fail(throttle, f"user{n}", "10.0.0.9", 0.0)
    for _ in range(4):
        fail(throttle, "alice", "10.0.0.9", 0.0)
    assert throttle.admit("alice", "10.0.0.9", 0.0) == 0
    throttle.succeeded("alice", "10.0.0.9")
    for _ in range(4):
        fail(throttle, "alice", "10.0.0.9", 0.0)  # four more free: the pair started afresh
    for n in range(4, 12):
        fail(throttle, f"user{n}", "10.0.0.9", 0.0)
    # 4 + 4 + 4 + 8 = 20 failures from the address: locked for every account.
    assert throttle.admit("bob", "10.0.0.9", 0.0) == 30.0


def test_failures_from_many_addresses_never_lock_the_account() -> None:
    """Hundreds of failures for one username leave a clean address free to try."""
    throttle = LoginThrottle()
    for n in range(300):
        fail(throttle, "alice", f"10.0.{n // 200}.{n % 200}", float(n))
    assert throttle.admit("alice", "192.0.2.1", 300.0) == 0


def test_an_account_under_attack_allows_each_address_one_guess() -> None:
    """After ten failures for an account, a new address is locked after its first."""
    throttle = LoginThrottle()
    for n in range(10):
        fail(throttle, "alice", f"10.0.0.{n // 5}", 0.0)
    assert throttle.under_attack("alice")
    fail(throttle, "alice", "10.0.0.50", 1.0)
    assert throttle.admit("alice", "10.0.0.50", 1.0) == 30.0
    assert throttle.admit("alice", "10.0.0.51", 1.0) == 0
    # Other accounts are not affected.
    fail(throttle, "bob", "10.0.0.50", 1.0)
    assert throttle.admit("bob", "10.0.0.50", 1.0) == 0


def test_checks_in_flight_count_against_the_pair() -> None:
    """Five admitted at once use up the free attempts; a sixth waits for them."""
    throttle = LoginThrottle()
    for _ in range(5):
        assert throttle.admit("alice", "10.0.0.9", 0.0) == 0
    assert throttle.admit("alice", "10.0.0.9", 0.0) == IN_FLIGHT_WAIT_S
    assert throttle.admit("bob", "10.0.0.9", 0.0) == 0
    throttle.abandoned("alice", "10.0.0.9")
    assert throttle.admit("alice", "10.0.0.9", 0.0) == 0


def test_past_a_lock_one_attempt_at_a_time() -> None:
    """When a pair's lock ends it gets one check, not a burst."""
    throttle = LoginThrottle()
    for _ in range(5):
        fail(throttle, "alice", "10.0.0.9", 0.0)
    assert throttle.admit("alice", "10.0.0.9", 30.0) == 0
    assert throttle.admit("alice", "10.0.0.9", 30.0) == IN_FLIGHT_WAIT_S


def test_alarms_at_the_thresholds_and_each_doubling() -> None:
    """An account alarms at 10, 20, 40 failures; an address at 20, 40; not in between."""
    throttle = LoginThrottle()
    raised: list[tuple[int, Alarm]] = []
    for n in range(1, 41):
        raised += [(n, alarm) for alarm in fail(throttle, "alice", f"10.0.0.{n}", 0.0)]
    assert [(n, a.trigger, a.user_failures) for n, a in raised] == [
        (10, AlarmTrigger.USERNAME, 10),
        (20, AlarmTrigger.USERNAME, 20),
        (40, AlarmTrigger.USERNAME, 40),
    ]
    sweep = LoginThrottle()
    swept = []
    now = 0.0
    for n in range(40):
        now += sweep.admit(f"user{n}", "10.0.0.9", now)  # wait out the address's lock
        swept.append(fail(sweep, f"user{n}", "10.0.0.9", now))
    assert [n for n, alarms in enumerate(swept, 1) if alarms] == [20, 40]
    assert swept[19][0].detail() == {
        "trigger": "address",
        "username": "user19",
        "remote": "10.0.0.9",
        "user_failures": 1,
        "address_failures": 20,
    }


def test_counts_are_forgotten_after_half_an_hour_without_failures() -> None:
    """A quiet table shrinks; an account is no longer under attack."""
    throttle = LoginThrottle()
    for n in range(10):
        fail(throttle, "alice", f"10.0.0.{n}", 0.0)
    assert throttle.under_attack("alice") and len(throttle) == 21
    fail(throttle, "bob", "10.0.0.99", 1801.0)
    assert not throttle.under_attack("alice")
    assert len(throttle) == 3
