"""A work queue that can also add a key later.

`DelayingQueue` is client-go's ``delayingType``: it wraps a `Queue`, forwards its methods unchanged,
and adds `DelayingQueue.add_after`. It exists so that a failing key can be retried after a pause
instead of in a hot loop, and so that a reconciler can ask to be called again in a while.

The promises:

- ``add_after(key, delay)`` with ``delay <= 0`` is a plain `Queue.add`.
- A key waiting to be added is held once. A second ``add_after`` of the same key keeps whichever
  ready time is **earlier**; it never postpones a key.
- A key that becomes ready is `Queue.add`-ed, so the usual collapsing applies: if it is already
  dirty, the delayed add does nothing more.
- ``add_after`` is ignored once the queue is shutting down; keys still waiting then are dropped.

One daemon thread, started by the constructor and stopped by shutdown, moves keys from a heap of
ready times into the queue. It waits on the injected `Clock`, so tests step a `FakeClock` instead of
sleeping, and it re-checks at least every `MAX_WAIT` seconds as insurance. Delays are float seconds
measured on ``clock.monotonic()``.
"""

from __future__ import annotations

import heapq
import itertools
import logging
import threading
from collections.abc import Hashable
from typing import Generic, Literal, TypeVar

from mcm.clock import Clock, RealClock
from mcm.workqueue.metrics import MetricsProvider, RetryMetrics, default_metrics_provider
from mcm.workqueue.queue import Queue

logger = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)

# client-go's maxWait: the waiting thread wakes at least this often even if nothing is due, so a
# missed wakeup can delay a key by at most this long. Checking a heap every 10 s costs nothing.
MAX_WAIT = 10.0


class DelayingQueue(Generic[K]):
    """A `Queue` plus `add_after`; see the module docstring."""

    def __init__(
        self,
        *,
        name: str = "",
        clock: Clock | None = None,  # FakeClock in tests
        queue: Queue[K] | None = None,
        metrics_provider: MetricsProvider | None = None,  # None: the process-wide Prometheus one
    ) -> None:
        self._clock: Clock = clock if clock is not None else RealClock()
        self._queue: Queue[K] = (
            queue
            if queue is not None
            else Queue(name=name, clock=self._clock, metrics_provider=metrics_provider)
        )
        self._retries: RetryMetrics | None = None
        if name:
            provider = (
                metrics_provider if metrics_provider is not None else default_metrics_provider()
            )
            self._retries = RetryMetrics(provider, name)
        self._lock = threading.Lock()
        # (ready_at, seq, key). An entry is live only while _waiting[key] is its (ready_at, seq);
        # superseded entries stay in the heap and are skipped when they reach the top.
        self._heap: list[tuple[float, int, K]] = []
        self._waiting: dict[K, tuple[float, int]] = {}
        self._seq = itertools.count()
        # Set when the earliest ready time moves earlier, or on shutdown; cleared by the thread.
        self._wakeup = threading.Event()
        self._stop = threading.Event()
        # When the waiting thread next looks, unless woken sooner. Tests read it to know the thread
        # is parked, so that a FakeClock step cannot slip in between its reading and its wait.
        self._next_check: float | None = None
        self._thread = threading.Thread(
            target=self._waiting_loop, name=f"workqueue-{name or 'unnamed'}-delay", daemon=True
        )
        self._thread.start()

    # The queue underneath, unchanged.

    def add(self, key: K) -> None:
        """Mark *key* as needing processing now; see `Queue.add`."""
        self._queue.add(key)

    def __len__(self) -> int:
        """How many keys wait to be handed out now (keys waiting for a delay are not counted)."""
        return len(self._queue)

    def get(self) -> tuple[K, Literal[False]] | tuple[None, Literal[True]]:
        """See `Queue.get`."""
        return self._queue.get()

    def done(self, key: K) -> None:
        """See `Queue.done`."""
        self._queue.done(key)

    def shut_down(self) -> None:
        """Stop the waiting thread, dropping delayed keys, then `Queue.shut_down`."""
        self._stop_waiting()
        self._queue.shut_down()

    def shut_down_with_drain(self) -> None:
        """Stop the waiting thread, then `Queue.shut_down_with_drain`."""
        self._stop_waiting()
        self._queue.shut_down_with_drain()

    @property
    def shutting_down(self) -> bool:
        """See `Queue.shutting_down`."""
        return self._queue.shutting_down

    # What delaying adds.

    def add_after(self, key: K, delay: float) -> None:
        """Add *key* once *delay* seconds have passed; an earlier pending time for *key* wins."""
        if self._queue.shutting_down:
            return
        if self._retries is not None:
            self._retries.retry()
        if delay <= 0:
            self._queue.add(key)
            return
        with self._lock:
            if self._stop.is_set():
                return
            ready_at = self._clock.monotonic() + delay
            pending = self._waiting.get(key)
            if pending is not None and pending[0] <= ready_at:
                return
            seq = next(self._seq)
            self._waiting[key] = (ready_at, seq)
            heapq.heappush(self._heap, (ready_at, seq, key))
            if self._heap[0][1] == seq:
                self._wakeup.set()  # the new key is now the next one due

    def _stop_waiting(self) -> None:
        with self._lock:
            self._stop.set()
            self._wakeup.set()
            self._heap.clear()
            self._waiting.clear()
        if self._thread is not threading.current_thread():
            self._thread.join()

    def _waiting_loop(self) -> None:
        try:
            while True:
                with self._lock:
                    if self._stop.is_set():
                        return
                    now = self._clock.monotonic()
                    ready = self._pop_ready(now)
                    timeout = MAX_WAIT if not self._heap else min(self._heap[0][0] - now, MAX_WAIT)
                    self._next_check = now + timeout
                    self._wakeup.clear()
                for key in ready:
                    self._queue.add(key)
                self._clock.wait(self._wakeup, timeout)
        except Exception:  # client-go's HandleCrash: log what killed the thread, then let it end
            logger.exception("workqueue delaying thread crashed")
            raise

    def _pop_ready(self, now: float) -> list[K]:
        """Pop the live keys due at *now*, earliest first; drop superseded heap entries too."""
        ready: list[K] = []
        while self._heap:
            ready_at, seq, key = self._heap[0]
            if self._waiting.get(key) != (ready_at, seq):
                heapq.heappop(self._heap)
                continue
            if ready_at > now:
                break
            heapq.heappop(self._heap)
            del self._waiting[key]
            ready.append(key)
        return ready
