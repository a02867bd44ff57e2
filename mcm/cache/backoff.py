"""`Backoff`: how long a reflector waits before retrying the API server.

Port of client-go's ``wait.NewExponentialBackoffManager`` as reflectors configure it (reflector.go):
the first delay is 0.8 s, each further one doubles up to 30 s, a random jitter of up to 100 % is
added to each, and the sequence starts over once two minutes have passed since the last back-off
began (the connection has been healthy that long). Durations are float seconds, measured on the
injected `Clock`.
"""

from __future__ import annotations

import random
import threading

from mcm.clock import Clock, RealClock

INITIAL_DELAY = 0.8
MAX_DELAY = 30.0
FACTOR = 2.0
JITTER = 1.0
RESET_AFTER = 120.0
"""client-go's reflector values: at most ~0.22 requests per second from a failing reflector."""


class Backoff:
    """An exponential, jittered delay sequence that resets after a quiet period."""

    def __init__(
        self,
        *,
        initial: float = INITIAL_DELAY,
        cap: float = MAX_DELAY,
        factor: float = FACTOR,
        jitter: float = JITTER,
        reset_after: float = RESET_AFTER,
        clock: Clock | None = None,  # FakeClock in tests
        rng: random.Random | None = None,  # seeded in tests
    ) -> None:
        self._initial = initial
        self._cap = cap
        self._factor = factor
        self._jitter = jitter
        self._reset_after = reset_after
        self._clock: Clock = clock or RealClock()
        self._rng = rng or random.Random()  # noqa: S311 -- jitter, not cryptography
        self._lock = threading.Lock()
        self._next = initial
        self._last_start: float | None = None

    def next(self) -> float:
        """The delay to wait now; it doubles per call unless `reset_after` passed since the last."""
        with self._lock:
            now = self._clock.monotonic()
            if self._last_start is None or now - self._last_start > self._reset_after:
                self._next = self._initial
            self._last_start = now
            delay = self._next
            self._next = min(self._next * self._factor, self._cap)
            if self._jitter > 0:
                delay += self._rng.random() * self._jitter * delay
            return delay
