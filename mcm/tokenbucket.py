"""One token bucket for every client-side limit: API requests, EC2 calls, work-queue retries.

A `TokenBucket` holds up to *burst* tokens and refills at *qps* tokens per second. A caller takes
one token before it acts (an API request in `mcm.kube.client`, an EC2 call in the AWS provider, a
retry in `mcm.workqueue.BucketRateLimiter`); when none is left, it waits until its token is due.
Like Go's ``rate.Limiter.Reserve``, a reservation never fails: the bucket goes into debt and the
reservation says how long to wait, so callers arriving together are spaced ``1/qps`` seconds apart,
in arrival order.

Tokens are taken, never given back: a watch, for one, takes one to open and holds none while it
streams.

Time is read through an injected `mcm.clock.Clock`, so tests use `mcm.clock.FakeClock` and assert
the computed waits instead of sleeping. Durations are float seconds.
"""

from __future__ import annotations

import threading

from mcm.clock import Clock, RealClock


class TokenBucket:
    """*qps* tokens per second, at most *burst* banked; ``qps <= 0`` disables throttling."""

    def __init__(self, qps: float, burst: int, *, clock: Clock | None = None) -> None:
        if qps > 0 and burst < 1:
            raise ValueError(f"burst must be at least 1 when qps > 0, got {burst}")
        self._qps = qps
        self._burst = burst
        self._clock: Clock = clock or RealClock()  # FakeClock in tests
        self._lock = threading.Lock()
        self._tokens = float(burst)
        self._last = self._clock.monotonic()

    @property
    def qps(self) -> float:
        return self._qps

    @property
    def burst(self) -> int:
        return self._burst

    def reserve(self) -> float:
        """Take one token now and return how many seconds the caller must wait before using it."""
        if self._qps <= 0:
            return 0.0
        with self._lock:
            now = self._clock.monotonic()
            elapsed = max(0.0, now - self._last)
            self._last = now
            self._tokens = min(float(self._burst), self._tokens + elapsed * self._qps)
            self._tokens -= 1.0
            if self._tokens >= 0:
                return 0.0
            return -self._tokens / self._qps

    @property
    def tokens(self) -> float:
        """Tokens available now (negative: that many callers are already waiting)."""
        with self._lock:
            elapsed = max(0.0, self._clock.monotonic() - self._last)
            return min(float(self._burst), self._tokens + elapsed * self._qps)

    def accept(self) -> None:
        """Take one token; sleep on the clock until it is due (client-go ``RateLimiter.Accept``)."""
        delay = self.reserve()
        if delay > 0:
            self._clock.sleep(delay)
