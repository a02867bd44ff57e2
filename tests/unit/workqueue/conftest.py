"""Fixtures for the workqueue tests: a fake clock, a private metrics registry, and bounded waits.

Queues made through the ``make_*`` fixtures are shut down at teardown, which also releases any
helper thread still blocked in ``get``.
"""

from __future__ import annotations

import queue as stdlib_queue
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any, Protocol

import pytest
from prometheus_client import CollectorRegistry

from mcm.clock import FakeClock
from mcm.workqueue import (
    DelayingQueue,
    PrometheusMetricsProvider,
    Queue,
    RateLimiter,
    RateLimitingQueue,
)

# Real seconds a test waits for another thread before failing; far above what any step needs.
BOUND = 5.0


class Gettable(Protocol):
    def get(self) -> tuple[str, bool] | tuple[None, bool]: ...


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics_provider(registry: CollectorRegistry) -> PrometheusMetricsProvider:
    return PrometheusMetricsProvider(registry)


@pytest.fixture
def make_queue(clock: FakeClock) -> Iterator[Callable[..., Queue[str]]]:
    made: list[Queue[str]] = []

    def make(**kwargs: Any) -> Queue[str]:
        kwargs.setdefault("clock", clock)
        q: Queue[str] = Queue(**kwargs)
        made.append(q)
        return q

    yield make
    for q in made:
        q.shut_down()


@pytest.fixture
def make_delaying_queue(clock: FakeClock) -> Iterator[Callable[..., DelayingQueue[str]]]:
    made: list[DelayingQueue[str]] = []

    def make(**kwargs: Any) -> DelayingQueue[str]:
        kwargs.setdefault("clock", clock)
        q: DelayingQueue[str] = DelayingQueue(**kwargs)
        made.append(q)
        return q

    yield make
    for q in made:
        q.shut_down()


@pytest.fixture
def make_rate_limiting_queue(
    clock: FakeClock,
) -> Iterator[Callable[..., RateLimitingQueue[str]]]:
    made: list[RateLimitingQueue[str]] = []

    def make(rate_limiter: RateLimiter[str], **kwargs: Any) -> RateLimitingQueue[str]:
        kwargs.setdefault("clock", clock)
        q: RateLimitingQueue[str] = RateLimitingQueue(rate_limiter, **kwargs)
        made.append(q)
        return q

    yield make
    for q in made:
        q.shut_down()


def _start_get(q: Gettable) -> stdlib_queue.Queue[tuple[Any, bool]]:
    answers: stdlib_queue.Queue[tuple[Any, bool]] = stdlib_queue.Queue()
    threading.Thread(target=lambda: answers.put(q.get()), daemon=True).start()
    return answers


@pytest.fixture
def start_get() -> Callable[[Gettable], stdlib_queue.Queue[tuple[Any, bool]]]:
    """``start_get(q)``: call ``q.get()`` in a daemon thread; its answer arrives on the result."""
    return _start_get


@pytest.fixture
def get_within() -> Callable[[Gettable], tuple[Any, bool]]:
    """``get_within(q)``: ``q.get()``, failing the test unless it returns within `BOUND` seconds."""

    def get(q: Gettable) -> tuple[Any, bool]:
        try:
            return _start_get(q).get(timeout=BOUND)
        except stdlib_queue.Empty:
            pytest.fail(f"get() did not return within {BOUND}s")

    return get


@pytest.fixture
def wait_until_parked(clock: FakeClock) -> Callable[..., None]:
    """``wait_until_parked(q, waiters=1)``: block until *q*'s delay thread is parked and stays so.

    The delay thread reads the clock, then waits a relative timeout, so a step between the two would
    be lost. Stepping only once this returns is safe: the thread has seen every ``add_after`` so far
    (its wakeup event is clear), its next look is still in the future (no step has woken it), and it
    is parked on the clock. ``waiters`` counts every thread parked on the fake clock, including the
    metrics thread of a named queue.
    """

    def wait(q: DelayingQueue[str] | RateLimitingQueue[str], waiters: int = 1) -> None:
        delaying = q._queue if isinstance(q, RateLimitingQueue) else q
        deadline = time.monotonic() + BOUND
        while (
            delaying._wakeup.is_set()
            or (delaying._next_check or 0.0) <= clock.monotonic()
            or clock.waiters < waiters
        ):
            if time.monotonic() > deadline:
                pytest.fail(f"the delay thread did not park within {BOUND}s")
            time.sleep(0.001)  # polling another thread's state, not waiting for logic

    return wait
