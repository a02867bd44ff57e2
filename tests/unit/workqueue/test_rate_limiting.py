"""RateLimitingQueue: retries wait as long as the limiter says; forget only clears the limiter."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mcm.clock import FakeClock
from mcm.workqueue import (
    DelayingQueue,
    ItemExponentialFailureRateLimiter,
    ItemFastSlowRateLimiter,
    RateLimitingQueue,
)

pytestmark = pytest.mark.timeout(20)

MakeRateLimiting = Callable[..., RateLimitingQueue[str]]
WaitUntilParked = Callable[..., None]
GetWithin = Callable[..., tuple[object, bool]]


def exponential() -> ItemExponentialFailureRateLimiter[str]:
    return ItemExponentialFailureRateLimiter(base_delay=1.0, max_delay=60.0)


def test_add_rate_limited_adds_the_key_after_the_limiters_delay(
    make_rate_limiting_queue: MakeRateLimiting,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    get_within: GetWithin,
) -> None:
    q = make_rate_limiting_queue(exponential())

    q.add_rate_limited("a")
    wait_until_parked(q)
    clock.step(0.5)

    assert len(q) == 0
    wait_until_parked(q)
    clock.step(0.5)
    assert get_within(q) == ("a", False)


def test_each_failure_doubles_the_next_wait(
    make_rate_limiting_queue: MakeRateLimiting,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    get_within: GetWithin,
) -> None:
    q = make_rate_limiting_queue(exponential())
    q.add_rate_limited("a")  # 1 s
    q.add_rate_limited("a")  # 2 s, but the pending 1 s wins

    wait_until_parked(q)
    clock.step(1.0)
    first = get_within(q)
    q.done("a")
    q.add_rate_limited("a")  # third failure: 4 s
    wait_until_parked(q)
    clock.step(3.9)
    wait_until_parked(q)

    assert first == ("a", False)
    assert q.num_requeues("a") == 3
    assert len(q) == 0
    clock.step(0.1)
    assert get_within(q) == ("a", False)


def test_forget_resets_the_failure_count(make_rate_limiting_queue: MakeRateLimiting) -> None:
    q = make_rate_limiting_queue(exponential())
    q.add_rate_limited("a")
    q.add_rate_limited("a")

    q.forget("a")

    assert q.num_requeues("a") == 0


def test_forget_does_not_release_a_key_that_is_still_being_processed(
    make_rate_limiting_queue: MakeRateLimiting,
) -> None:
    q = make_rate_limiting_queue(exponential())
    q.add("a")
    q.get()

    q.forget("a")
    q.add("a")

    assert len(q) == 0  # still processing: only done lets it out again
    q.done("a")
    assert q.get() == ("a", False)


def test_num_requeues_is_the_limiters_count(make_rate_limiting_queue: MakeRateLimiting) -> None:
    limiter: ItemFastSlowRateLimiter[str] = ItemFastSlowRateLimiter(
        fast_delay=1.0, slow_delay=10.0, max_fast_attempts=1
    )
    q = make_rate_limiting_queue(limiter)

    for _ in range(3):
        q.add_rate_limited("a")

    assert q.num_requeues("a") == limiter.num_requeues("a") == 3


def test_the_queue_methods_are_those_of_the_delaying_queue_underneath(
    make_rate_limiting_queue: MakeRateLimiting,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    get_within: GetWithin,
) -> None:
    q = make_rate_limiting_queue(exponential())
    q.add("a")
    q.add("a")
    q.add_after("b", 1.0)

    assert len(q) == 1
    assert q.get() == ("a", False)
    wait_until_parked(q)
    clock.step(1.0)
    assert get_within(q) == ("b", False)
    q.done("a")
    q.done("b")
    q.shut_down_with_drain()
    assert q.shutting_down
    assert q.get() == (None, True)


def test_an_injected_delaying_queue_receives_the_retries(
    clock: FakeClock, get_within: GetWithin
) -> None:
    inner: DelayingQueue[str] = DelayingQueue(clock=clock)
    q = RateLimitingQueue(ItemExponentialFailureRateLimiter[str](0.0, 0.0), queue=inner)
    try:
        q.add_rate_limited("a")  # a zero delay is added at once

        assert get_within(inner) == ("a", False)
    finally:
        q.shut_down()
    assert inner.shutting_down


def test_add_rate_limited_is_ignored_once_shutting_down(
    make_rate_limiting_queue: MakeRateLimiting,
) -> None:
    q = make_rate_limiting_queue(exponential())
    q.shut_down()

    q.add_rate_limited("a")

    assert len(q) == 0
    assert q.num_requeues("a") == 1  # the limiter was still asked, as in client-go
