"""Rate limiters: how long a failing key waits before it is retried.

These are client-go's ``default_rate_limiters.go``, with the same arithmetic:

- `ItemExponentialFailureRateLimiter`: per key, ``base_delay * 2**failures`` capped at
  ``max_delay``. The first retry waits ``base_delay``; the cap is also the answer when the power
  would overflow.
- `BucketRateLimiter`: one token bucket shared by all keys (``golang.org/x/time/rate``'s
  ``Reserve().Delay()``): ``burst`` calls pass at once, later calls are spaced ``1 / qps`` apart,
  and the bucket goes into debt rather than refusing. It counts no failures: ``num_requeues`` is
  always 0 and ``forget`` does nothing.
- `ItemFastSlowRateLimiter`: ``fast_delay`` for the first ``max_fast_attempts`` failures of a key,
  then ``slow_delay``.
- `MaxOfRateLimiter`: asks **every** limiter (so each records the failure or takes a token) and
  returns the longest wait; ``num_requeues`` is the largest count and ``forget`` reaches them all.
- `WithMaxWaitRateLimiter`: another limiter's answer, capped.

`default_controller_rate_limiter` is client-go's ``DefaultTypedControllerRateLimiter``. A limiter
only tracks failures: call ``forget`` when a key succeeds (or is given up on), or its count grows
forever. All limiters are thread-safe. Delays are float seconds.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

from mcm.clock import Clock
from mcm.tokenbucket import TokenBucket

K = TypeVar("K", bound=Hashable)
K_contra = TypeVar("K_contra", bound=Hashable, contravariant=True)

# Go measures the computed back-off in int64 nanoseconds and answers max_delay past that; so do we.
_MAX_GO_DURATION = (2**63 - 1) / 1e9


class RateLimiter(Protocol[K_contra]):
    """Decides how long each failing key waits (client-go's ``TypedRateLimiter``)."""

    def when(self, key: K_contra) -> float:
        """Record one more failure of *key*; return how many seconds it must wait."""
        ...

    def forget(self, key: K_contra) -> None:
        """Stop tracking *key*, after it succeeded or was given up on."""
        ...

    def num_requeues(self, key: K_contra) -> int:
        """How many failures are recorded for *key*."""
        ...


class ItemExponentialFailureRateLimiter(Generic[K]):
    """Per key: ``base_delay * 2**failures`` up to *max_delay*; the first retry waits the base."""

    def __init__(self, base_delay: float, max_delay: float) -> None:
        self._base_delay = base_delay
        self._max_delay = max_delay
        self._failures: dict[K, int] = {}
        self._lock = threading.Lock()

    def when(self, key: K) -> float:
        with self._lock:
            exponent = self._failures.get(key, 0)
            self._failures[key] = exponent + 1
        try:
            delay = self._base_delay * 2.0**exponent
        except OverflowError:  # a key that failed a thousand times in a row
            return self._max_delay
        if delay > _MAX_GO_DURATION:
            return self._max_delay
        return min(delay, self._max_delay)

    def forget(self, key: K) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class ItemFastSlowRateLimiter(Generic[K]):
    """Per key: *fast_delay* for the first *max_fast_attempts* failures, *slow_delay* after that."""

    def __init__(self, fast_delay: float, slow_delay: float, max_fast_attempts: int) -> None:
        self._fast_delay = fast_delay
        self._slow_delay = slow_delay
        self._max_fast_attempts = max_fast_attempts
        self._failures: dict[K, int] = {}
        self._lock = threading.Lock()

    def when(self, key: K) -> float:
        with self._lock:
            failures = self._failures.get(key, 0) + 1
            self._failures[key] = failures
        return self._fast_delay if failures <= self._max_fast_attempts else self._slow_delay

    def forget(self, key: K) -> None:
        with self._lock:
            self._failures.pop(key, None)

    def num_requeues(self, key: K) -> int:
        with self._lock:
            return self._failures.get(key, 0)


class BucketRateLimiter(Generic[K]):
    """One token bucket for all keys: *burst* calls at once, then one every ``1 / qps`` seconds.

    A call always takes a token, going into debt when the bucket is empty, and is told to wait until
    the debt is repaid (``rate.Limiter.Reserve().Delay()``). The bucket starts full.
    """

    def __init__(self, qps: float, burst: int, *, clock: Clock | None = None) -> None:
        self._bucket = TokenBucket(qps, burst, clock=clock)

    def when(self, key: K) -> float:
        return self._bucket.reserve()

    def forget(self, key: K) -> None:
        """Nothing to forget: the bucket does not track keys."""

    def num_requeues(self, key: K) -> int:
        """Always 0: the bucket does not count failures."""
        return 0


class MaxOfRateLimiter(Generic[K]):
    """The longest wait any of *limiters* asks for; every limiter sees every call."""

    def __init__(self, *limiters: RateLimiter[K]) -> None:
        self._limiters = limiters

    def when(self, key: K) -> float:
        # Not max() over a generator that could stop early: every limiter must record the call.
        delays = [limiter.when(key) for limiter in self._limiters]
        return max(delays, default=0.0)

    def forget(self, key: K) -> None:
        for limiter in self._limiters:
            limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return max((limiter.num_requeues(key) for limiter in self._limiters), default=0)


class WithMaxWaitRateLimiter(Generic[K]):
    """*limiter*'s answer, but never more than *max_delay*."""

    def __init__(self, limiter: RateLimiter[K], max_delay: float) -> None:
        self._limiter = limiter
        self._max_delay = max_delay

    def when(self, key: K) -> float:
        return min(self._limiter.when(key), self._max_delay)

    def forget(self, key: K) -> None:
        self._limiter.forget(key)

    def num_requeues(self, key: K) -> int:
        return self._limiter.num_requeues(key)


def default_controller_rate_limiter(clock: Clock | None = None) -> RateLimiter[K]:
    """client-go's default: per key 5 ms doubling up to 1000 s; overall 10 qps with a burst of 100.

    The bucket only paces retries across all keys; it is not a per-key limit.
    """
    return MaxOfRateLimiter(
        ItemExponentialFailureRateLimiter[K](base_delay=0.005, max_delay=1000.0),
        BucketRateLimiter[K](qps=10.0, burst=100, clock=clock),
    )
