"""Time, injected.

Every timer, deadline, TTL and back-off in ``mcm`` reads time through a `Clock`, so tests step a
`FakeClock` instead of sleeping. Durations are ``float`` seconds throughout the package.

Two readings are offered, as Go's ``time.Now`` carries both: `Clock.now` is wall-clock time (seconds
since the epoch, comparable with Kubernetes timestamps such as ``creationTimestamp``), and
`Clock.monotonic` is for measuring intervals and never jumps. A `FakeClock` moves both together, and
only when a test calls `step`.
"""

from __future__ import annotations

import datetime
import threading
import time
from typing import Protocol


class Clock(Protocol):
    """The source of time for everything that waits or measures."""

    def now(self) -> float:
        """Wall-clock seconds since the epoch (``time.time()``)."""
        ...

    def monotonic(self) -> float:
        """Seconds on a clock that never goes backwards (``time.monotonic()``)."""
        ...

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        """Block until *event* is set (True) or *timeout* clock-seconds pass (False)."""
        ...

    def sleep(self, seconds: float) -> None:
        """Block for *seconds* clock-seconds."""
        ...


def utcnow(clock: Clock) -> datetime.datetime:
    """The clock's wall time as an aware UTC datetime."""
    return datetime.datetime.fromtimestamp(clock.now(), tz=datetime.UTC)


class RealClock:
    """The system's clocks."""

    def now(self) -> float:
        return time.time()

    def monotonic(self) -> float:
        return time.monotonic()

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        return event.wait(timeout)

    def sleep(self, seconds: float) -> None:
        if seconds > 0:
            time.sleep(seconds)


class FakeClock:
    """A clock that moves only when a test calls `step` (client-go's ``testingclock.FakeClock``).

    Threads blocked in `wait` or `sleep` wake when a step carries the clock past their deadline, or,
    for `wait`, as soon as their event is set. `waiters` lets a test wait until a thread is parked
    before it steps.
    """

    def __init__(self, start: float = 1_700_000_000.0) -> None:
        self._now = start
        self._mono = 1000.0
        self._cond = threading.Condition()
        self._waiters = 0  # threads currently parked in wait/sleep with a deadline

    def now(self) -> float:
        with self._cond:
            return self._now

    def monotonic(self) -> float:
        with self._cond:
            return self._mono

    def step(self, seconds: float) -> None:
        """Move both readings forward by *seconds* and wake every waiter whose deadline passed."""
        with self._cond:
            self._now += seconds
            self._mono += seconds
            self._cond.notify_all()

    @property
    def waiters(self) -> int:
        """How many threads are parked on this clock with a deadline."""
        with self._cond:
            return self._waiters

    def wait_for_waiters(self, count: int, timeout: float = 5.0) -> bool:
        """Block (in real time, at most *timeout*) until at least *count* threads are parked."""
        deadline = time.monotonic() + timeout
        with self._cond:
            while self._waiters < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._cond.wait(min(remaining, 0.01))
            return True

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        with self._cond:
            deadline = None if timeout is None else self._mono + timeout
            self._waiters += 1
            self._cond.notify_all()
            try:
                while not event.is_set():
                    if deadline is not None and self._mono >= deadline:
                        return False
                    # `event` is set by other threads without notifying us: re-check it often.
                    self._cond.wait(0.005)
                return True
            finally:
                self._waiters -= 1

    def sleep(self, seconds: float) -> None:
        self.wait(threading.Event(), seconds)
