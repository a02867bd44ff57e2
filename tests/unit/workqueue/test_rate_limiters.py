"""Rate limiters: client-go's schedules, exactly."""

from __future__ import annotations

import threading

import pytest

from mcm.clock import FakeClock
from mcm.workqueue import (
    BucketRateLimiter,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    MaxOfRateLimiter,
    RateLimiter,
    WithMaxWaitRateLimiter,
    default_controller_rate_limiter,
)


class Fixed:
    """A limiter that always answers *delay* and counts its calls."""

    def __init__(self, delay: float, requeues: int = 0) -> None:
        self.delay = delay
        self.requeues = requeues
        self.calls: list[str] = []
        self.forgotten: list[str] = []

    def when(self, key: str) -> float:
        self.calls.append(key)
        return self.delay

    def forget(self, key: str) -> None:
        self.forgotten.append(key)

    def num_requeues(self, key: str) -> int:
        return self.requeues


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, 0.005, id="first-retry-waits-base-delay"),
        pytest.param(1, 0.01, id="second-retry-doubles"),
        pytest.param(17, 655.36, id="last-step-below-cap"),
        pytest.param(18, 1000.0, id="capped-at-max-delay"),
        pytest.param(5000, 1000.0, id="never-overflows"),
    ],
)
def test_exponential_limiter_follows_client_gos_default_per_key_schedule(
    failures: int, expected: float
) -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(
        base_delay=0.005, max_delay=1000.0
    )
    for _ in range(failures):
        limiter.when("key")

    delay = limiter.when("key")

    assert delay == pytest.approx(expected)
    assert limiter.num_requeues("key") == failures + 1


def test_exponential_limiter_counts_each_key_separately() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1.0, 100.0)

    delays = [limiter.when("a"), limiter.when("a"), limiter.when("b"), limiter.when("a")]

    assert delays == [1.0, 2.0, 1.0, 4.0]
    assert (limiter.num_requeues("a"), limiter.num_requeues("b")) == (3, 1)


def test_exponential_limiter_starts_over_after_forget() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1.0, 100.0)
    limiter.when("a")
    limiter.when("a")

    limiter.forget("a")

    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 1.0


def test_exponential_limiter_answers_the_cap_when_the_delay_exceeds_gos_duration() -> None:
    # 1e9 s * 2**34 is past int64 nanoseconds; Go answers max_delay there, even a larger one.
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(1e9, 1e300)
    for _ in range(34):
        limiter.when("a")

    assert limiter.when("a") == 1e300


def test_exponential_limiter_counts_every_failure_from_many_threads() -> None:
    limiter: ItemExponentialFailureRateLimiter[str] = ItemExponentialFailureRateLimiter(
        0.005, 1000.0
    )
    threads = [
        threading.Thread(target=lambda: [limiter.when("a") for _ in range(1000)]) for _ in range(8)
    ]

    for t in threads:
        t.start()
    for t in threads:
        t.join(5.0)

    assert limiter.num_requeues("a") == 8000


@pytest.mark.parametrize(
    ("failures", "expected"),
    [
        pytest.param(0, 0.1, id="first-is-fast"),
        pytest.param(2, 0.1, id="last-fast-attempt"),
        pytest.param(3, 5.0, id="then-slow"),
        pytest.param(100, 5.0, id="stays-slow"),
    ],
)
def test_fast_slow_limiter_is_fast_for_max_fast_attempts_then_slow(
    failures: int, expected: float
) -> None:
    limiter: ItemFastSlowRateLimiter[str] = ItemFastSlowRateLimiter(
        fast_delay=0.1, slow_delay=5.0, max_fast_attempts=3
    )
    for _ in range(failures):
        limiter.when("a")

    assert limiter.when("a") == expected
    assert limiter.num_requeues("a") == failures + 1


def test_fast_slow_limiter_is_fast_again_after_forget() -> None:
    limiter: ItemFastSlowRateLimiter[str] = ItemFastSlowRateLimiter(0.1, 5.0, 1)
    limiter.when("a")
    limiter.when("a")

    limiter.forget("a")

    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == 0.1


def test_bucket_allows_a_burst_then_spaces_callers_at_qps(clock: FakeClock) -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=10, burst=100, clock=clock)

    burst = [limiter.when(f"k{i}") for i in range(100)]
    after_burst = [limiter.when("late-1"), limiter.when("late-2")]

    assert burst == [0.0] * 100
    assert after_burst == pytest.approx([0.1, 0.2])


def test_bucket_debt_is_repaid_at_qps(clock: FakeClock) -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=10, burst=1, clock=clock)
    limiter.when("a")
    limiter.when("b")  # in debt: waits 0.1 s
    limiter.when("c")  # waits 0.2 s

    clock.step(0.15)
    partly_repaid = limiter.when("d")
    clock.step(1.0)
    refilled = [limiter.when("e"), limiter.when("f")]

    assert partly_repaid == pytest.approx(0.15)
    assert refilled == pytest.approx([0.0, 0.1])  # full again, but only up to burst


def test_bucket_counts_no_failures_and_forgets_nothing(clock: FakeClock) -> None:
    limiter: BucketRateLimiter[str] = BucketRateLimiter(qps=1, burst=1, clock=clock)
    limiter.when("a")
    limiter.when("a")

    limiter.forget("a")

    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(2.0)  # forget did not refill the bucket


def test_max_of_asks_every_limiter_and_returns_the_longest_wait() -> None:
    short, long_, middle = Fixed(0.1), Fixed(3.0), Fixed(1.0)
    limiter = MaxOfRateLimiter[str](short, long_, middle)

    delay = limiter.when("a")

    assert delay == 3.0
    assert short.calls == long_.calls == middle.calls == ["a"]


def test_max_of_reports_the_largest_requeue_count_and_forgets_everywhere() -> None:
    first, second = Fixed(0.0, requeues=2), Fixed(0.0, requeues=5)
    limiter = MaxOfRateLimiter[str](first, second)

    limiter.forget("a")

    assert limiter.num_requeues("a") == 5
    assert first.forgotten == second.forgotten == ["a"]


def test_max_of_no_limiters_never_waits() -> None:
    limiter = MaxOfRateLimiter[str]()

    assert limiter.when("a") == 0.0
    assert limiter.num_requeues("a") == 0


@pytest.mark.parametrize(
    ("inner_delay", "expected"),
    [
        pytest.param(0.5, 0.5, id="below-cap-unchanged"),
        pytest.param(30.0, 10.0, id="capped"),
    ],
)
def test_with_max_wait_caps_the_wrapped_limiters_delay(inner_delay: float, expected: float) -> None:
    limiter = WithMaxWaitRateLimiter[str](Fixed(inner_delay), max_delay=10.0)

    assert limiter.when("a") == expected


def test_with_max_wait_forwards_forget_and_num_requeues() -> None:
    inner = Fixed(1.0, requeues=4)
    limiter = WithMaxWaitRateLimiter[str](inner, max_delay=10.0)

    limiter.forget("a")

    assert limiter.num_requeues("a") == 4
    assert inner.forgotten == ["a"]


def test_default_controller_limiter_backs_off_per_key_up_to_1000_seconds(clock: FakeClock) -> None:
    limiter: RateLimiter[str] = default_controller_rate_limiter(clock)

    delays = [limiter.when("a") for _ in range(20)]

    assert delays[0] == pytest.approx(0.005)
    assert delays[17] == pytest.approx(655.36)
    assert delays[18:] == [1000.0, 1000.0]
    assert limiter.num_requeues("a") == 20


def test_default_controller_limiter_paces_all_keys_at_10_qps_after_a_burst_of_100(
    clock: FakeClock,
) -> None:
    limiter: RateLimiter[str] = default_controller_rate_limiter(clock)

    burst = [limiter.when(f"k{i}") for i in range(100)]
    after_burst = limiter.when("k100")

    assert burst == pytest.approx([0.005] * 100)  # each key's first failure waits the base delay
    assert after_burst == pytest.approx(0.1)  # the bucket, not the key, decides now
    assert limiter.num_requeues("k100") == 1


def test_default_controller_limiter_forget_resets_the_per_key_backoff(clock: FakeClock) -> None:
    limiter: RateLimiter[str] = default_controller_rate_limiter(clock)
    for _ in range(5):
        limiter.when("a")

    limiter.forget("a")

    assert limiter.num_requeues("a") == 0
    assert limiter.when("a") == pytest.approx(0.005)
