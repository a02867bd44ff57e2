"""TokenBucket: burst, then one token every 1/qps seconds, on a fake clock."""

from __future__ import annotations

import threading

import pytest

from mcm.clock import FakeClock
from mcm.tokenbucket import TokenBucket

BOUND = 5.0


def test_a_full_bucket_lets_a_burst_through_and_then_spaces_requests() -> None:
    bucket = TokenBucket(qps=2.0, burst=3, clock=FakeClock())

    waits = [bucket.reserve() for _ in range(6)]

    assert waits == pytest.approx([0.0, 0.0, 0.0, 0.5, 1.0, 1.5])


def test_tokens_refill_at_qps_up_to_the_burst() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=4.0, burst=2, clock=clock)
    [bucket.reserve() for _ in range(2)]

    clock.step(0.25)
    after_one_token_interval = bucket.reserve()
    clock.step(100.0)
    after_a_long_pause = [bucket.reserve() for _ in range(3)]

    assert after_one_token_interval == 0.0
    assert after_a_long_pause == pytest.approx([0.0, 0.0, 0.25])


def test_debt_is_paid_back_as_time_passes() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=1.0, burst=1, clock=clock)
    bucket.reserve()
    assert bucket.reserve() == pytest.approx(1.0)

    clock.step(1.5)

    assert bucket.reserve() == pytest.approx(0.5)


def test_accept_sleeps_on_the_clock_until_the_token_is_due() -> None:
    clock = FakeClock()
    bucket = TokenBucket(qps=4.0, burst=1, clock=clock)
    bucket.accept()  # takes the only token without waiting
    waiter = threading.Thread(target=bucket.accept)

    waiter.start()
    parked = clock.wait_for_waiters(1, timeout=BOUND)
    clock.step(0.125)
    still_waiting_halfway = waiter.is_alive()
    clock.step(0.125)
    waiter.join(BOUND)

    assert parked
    assert still_waiting_halfway
    assert not waiter.is_alive()


@pytest.mark.parametrize("qps", [pytest.param(0.0, id="zero"), pytest.param(-1.0, id="negative")])
def test_a_non_positive_qps_disables_throttling(qps: float) -> None:
    bucket = TokenBucket(qps=qps, burst=0, clock=FakeClock())

    assert [bucket.reserve() for _ in range(1000)] == [0.0] * 1000


def test_a_positive_qps_needs_a_burst_of_at_least_one() -> None:
    with pytest.raises(ValueError, match="burst"):
        TokenBucket(qps=5.0, burst=0)
