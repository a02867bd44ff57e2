"""A work queue of keys: fair, stingy, and safe for many producers and consumers.

This is client-go's ``util/workqueue`` ``Typed`` queue, and it keeps the same four promises:

- **Fair.** Keys are handed out in the order they were added.
- **Stingy.** A key added many times before a worker takes it is handed out once: the queue holds a
  *dirty* set, and an add of a key that is already dirty does nothing.
- **Never in two workers at once.** A key stays *processing* from `Queue.get` until `Queue.done`. If
  it is added again meanwhile it becomes dirty but is not queued; `done` queues it then, so the new
  change is handled exactly once more, after the current pass.
- **Shutdown notifications.** After `Queue.shut_down`, adds are ignored, workers still receive what
  is queued, and then `Queue.get` reports shutdown. `Queue.shut_down_with_drain` also blocks until
  every key a worker holds is `done`.

`Queue.get` returns ``(key, shutdown)`` like Go's ``Get() (item, shutdown bool)``: ``(key, False)``
for work, ``(None, True)`` once the queue is shut down and empty. Every key handed out must be given
back with `Queue.done`, whatever happened while processing it.

A queue with a ``name`` records client-go's workqueue metrics (see `mcm.workqueue.metrics`) and runs
one daemon thread that refreshes the unfinished-work gauges until shutdown; an unnamed queue records
nothing.
"""

from __future__ import annotations

import collections
import threading
from collections.abc import Hashable
from typing import Generic, Literal, TypeVar

from mcm.clock import Clock, RealClock
from mcm.workqueue.metrics import (
    UNFINISHED_WORK_UPDATE_PERIOD,
    MetricsProvider,
    QueueMetrics,
    default_metrics_provider,
)

K = TypeVar("K", bound=Hashable)


class Queue(Generic[K]):
    """client-go's ``workqueue.Typed``: see the module docstring for its promises."""

    def __init__(
        self,
        *,
        name: str = "",
        clock: Clock | None = None,  # FakeClock in tests; only metrics read it
        metrics_provider: MetricsProvider | None = None,  # None: the process-wide Prometheus one
    ) -> None:
        self._name = name
        self._clock: Clock = clock if clock is not None else RealClock()
        # Every key in _queue is in _dirty and not in _processing.
        self._queue: collections.deque[K] = collections.deque()
        # Every key that needs processing.
        self._dirty: set[K] = set()
        # Keys a worker holds. They may also be dirty: `done` then queues them again.
        self._processing: set[K] = set()
        self._cond = threading.Condition()
        self._shutting_down = False
        # True while shut_down_with_drain waits; shut_down clears it to release that wait.
        self._drain = False
        self._stop = threading.Event()
        self._metrics: QueueMetrics[K] | None = None
        self._updater: threading.Thread | None = None
        if name:
            provider = (
                metrics_provider if metrics_provider is not None else default_metrics_provider()
            )
            self._metrics = QueueMetrics(provider, name, self._clock)
            self._updater = threading.Thread(
                target=self._update_unfinished_work_loop,
                name=f"workqueue-{name}-metrics",
                daemon=True,
            )
            self._updater.start()

    @property
    def name(self) -> str:
        """The name the metrics are labelled with; empty for an unnamed queue."""
        return self._name

    def add(self, key: K) -> None:
        """Mark *key* as needing processing; ignored once the queue is shutting down."""
        with self._cond:
            if self._shutting_down or key in self._dirty:
                return
            if self._metrics is not None:
                self._metrics.add(key)
            self._dirty.add(key)
            if key in self._processing:
                return  # `done` queues it again
            self._queue.append(key)
            self._cond.notify()

    def __len__(self) -> int:
        """How many keys wait to be handed out: for information, never to gate `add` or `get`."""
        with self._cond:
            return len(self._queue)

    def get(self) -> tuple[K, Literal[False]] | tuple[None, Literal[True]]:
        """Wait for a key: ``(key, False)``, or ``(None, True)`` once shut down and empty.

        The caller owns the key until it calls `done` with it. Type checkers narrow the pair on its
        second element: ``got = q.get()``, ``if got[1]: return``, then ``key = got[0]`` is a ``K``.
        """
        with self._cond:
            while not self._queue and not self._shutting_down:
                self._cond.wait()
            if not self._queue:
                return None, True
            key = self._queue.popleft()
            if self._metrics is not None:
                self._metrics.get(key)
            self._processing.add(key)
            self._dirty.discard(key)
            return key, False

    def done(self, key: K) -> None:
        """Give *key* back; if it was added again while being processed, queue it now."""
        with self._cond:
            if self._metrics is not None:
                self._metrics.done(key)
            self._processing.discard(key)
            if key in self._dirty:
                self._queue.append(key)
                self._cond.notify()
            elif not self._processing:
                self._cond.notify_all()  # wake shut_down_with_drain

    def shut_down(self) -> None:
        """Ignore new adds; workers drain what is queued, then `get` reports shutdown.

        Also releases a `shut_down_with_drain` that is still waiting for keys to be done.
        """
        with self._cond:
            self._drain = False
            self._shutting_down = True
            self._cond.notify_all()
        self._stop_updater()

    def shut_down_with_drain(self) -> None:
        """Like `shut_down`, then block until every key handed out has been given back with `done`.

        A worker that never calls `done` blocks this forever; `shut_down` from another thread ends
        the wait.
        """
        with self._cond:
            self._drain = True
            self._shutting_down = True
            self._cond.notify_all()
            while self._processing and self._drain:
                self._cond.wait()
        self._stop_updater()

    @property
    def shutting_down(self) -> bool:
        """Whether `shut_down` or `shut_down_with_drain` has been called."""
        with self._cond:
            return self._shutting_down

    def update_unfinished_work(self) -> None:
        """Refresh the unfinished-work gauges; the metrics thread calls this periodically."""
        with self._cond:
            if self._metrics is not None and not self._shutting_down:
                self._metrics.update_unfinished_work()

    def _update_unfinished_work_loop(self) -> None:
        while not self._clock.wait(self._stop, UNFINISHED_WORK_UPDATE_PERIOD):
            self.update_unfinished_work()

    def _stop_updater(self) -> None:
        self._stop.set()
        updater = self._updater
        if updater is not None and updater is not threading.current_thread():
            updater.join()
