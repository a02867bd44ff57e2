"""The queue controllers use: a `DelayingQueue` whose retries are paced by a `RateLimiter`.

`RateLimitingQueue` is client-go's ``rateLimitingType``. It forwards every `DelayingQueue` method
unchanged and adds three, each one line:

- `RateLimitingQueue.add_rate_limited` is ``add_after(key, rate_limiter.when(key))``: it records a
  failure and schedules the retry.
- `RateLimitingQueue.forget` clears the limiter's history of a key. It does not touch the queue: the
  worker still calls `done`. Remember to call it when a key succeeds, or its failures are tracked
  forever and its next failure waits as if it had never succeeded.
- `RateLimitingQueue.num_requeues` reports the limiter's failure count for a key.
"""

from __future__ import annotations

from collections.abc import Hashable
from typing import Generic, Literal, TypeVar

from mcm.clock import Clock
from mcm.workqueue.delaying import DelayingQueue
from mcm.workqueue.metrics import MetricsProvider
from mcm.workqueue.rate_limiters import RateLimiter

K = TypeVar("K", bound=Hashable)


class RateLimitingQueue(Generic[K]):
    """A `DelayingQueue` plus `add_rate_limited`, `forget` and `num_requeues`."""

    def __init__(
        self,
        rate_limiter: RateLimiter[K],
        *,
        name: str = "",
        clock: Clock | None = None,  # FakeClock in tests
        queue: DelayingQueue[K] | None = None,
        metrics_provider: MetricsProvider | None = None,  # None: the process-wide Prometheus one
    ) -> None:
        self._rate_limiter = rate_limiter
        self._queue: DelayingQueue[K] = (
            queue
            if queue is not None
            else DelayingQueue(name=name, clock=clock, metrics_provider=metrics_provider)
        )

    # The queue underneath, unchanged.

    def add(self, key: K) -> None:
        """See `Queue.add`."""
        self._queue.add(key)

    def add_after(self, key: K, delay: float) -> None:
        """See `DelayingQueue.add_after`."""
        self._queue.add_after(key, delay)

    def __len__(self) -> int:
        """See `Queue.__len__`."""
        return len(self._queue)

    def get(self) -> tuple[K, Literal[False]] | tuple[None, Literal[True]]:
        """See `Queue.get`."""
        return self._queue.get()

    def done(self, key: K) -> None:
        """See `Queue.done`."""
        self._queue.done(key)

    def shut_down(self) -> None:
        """See `DelayingQueue.shut_down`."""
        self._queue.shut_down()

    def shut_down_with_drain(self) -> None:
        """See `DelayingQueue.shut_down_with_drain`."""
        self._queue.shut_down_with_drain()

    @property
    def shutting_down(self) -> bool:
        """See `Queue.shutting_down`."""
        return self._queue.shutting_down

    # What rate limiting adds.

    def add_rate_limited(self, key: K) -> None:
        """Record a failure of *key* and add it again once the rate limiter allows."""
        self._queue.add_after(key, self._rate_limiter.when(key))

    def forget(self, key: K) -> None:
        """Clear the failure history of *key*; `done` must still be called."""
        self._rate_limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        """How many failures the rate limiter has recorded for *key*."""
        return self._rate_limiter.num_requeues(key)
