"""The controller runtime: a work queue of keys, worker threads, and what to do with each outcome.

A `Controller` is sample-controller's shape with controller-runtime's reconciler contract. Informer
handlers compute an `ObjectKey` and add it to the controller's `RateLimitingQueue`; worker threads
take keys off the queue and call `Reconciler.reconcile`. The queue guarantees that **one key is
never reconciled by two workers at once**, and that a key added while it is being reconciled is
reconciled exactly once more afterwards. Reconciliation is level-based: a reconciler reads the
current state from its listers, never from the event that enqueued the key.

What the worker does with the outcome (controller-runtime's ``reconcileHandler``, plus upstream
MCM's ``maxRetries`` from ``pkg/util/worker/worker.go``):

- raises `mcm.errors.TerminalError`: ``forget``. The key is dropped until an event adds it again.
- raises anything else: ``add_rate_limited``, a retry after a back-off that grows with each
  consecutive failure; unless the key has already been retried *max_retries* times, in which case
  ``forget``, dropping it as upstream's worker does after ``DefaultMaxRetries``
  (`DEFAULT_MAX_RETRIES`).
- returns ``Result(requeue_after=d)`` with ``d > 0``: ``forget``, then ``add_after(key, d)``.
- returns ``Result()``: ``forget``.

``forget`` only clears the rate limiter's failure history; the worker always calls ``done``. An
exception never kills a worker: it is logged with the key (``mcm.errors.MCMError`` subclasses, the
errors we raise on purpose, without a traceback; anything else, a bug, with one) and retried like
any other failure. ``max_retries=None`` (the default) retries forever, as controller-runtime does.

`Controller.run` blocks until *stop* is set (controller-runtime's Runnable rule): it optionally
waits for informer caches, starts the workers, waits for *stop*, shuts the queue down, and joins the
workers for at most *shutdown_timeout* real seconds. Shutting down lets the workers finish what
is already queued (client-go's ``ShutDown`` semantics); keys waiting on a delay are dropped. Tests
drive `Controller.process_next` directly instead, with no threads.

`enqueue_handler` adapts a controller to an informer: a `mcm.cache.ResourceEventHandler` that
unwraps `mcm.cache.DeletedFinalStateUnknown` tombstones, maps an object to the keys to reconcile
(its own key, or e.g. its controller owner's), and drops periodic resyncs.

Every reconcile is measured in Prometheus (see `ControllerMetrics` for the series). Upstream MCM
exports no per-reconcile series, only workqueue ones, so these follow controller-runtime's
``controller_runtime_*`` metrics under MCM's ``mcm_`` namespace. Durations are float seconds.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

import attrs
import prometheus_client
from prometheus_client import CollectorRegistry

from mcm.api.meta import KubeObject, ObjectKey
from mcm.cache import DeletedFinalStateUnknown, ResourceEventHandler, wait_for_cache_sync
from mcm.clock import Clock, RealClock
from mcm.errors import MCMError, TerminalError
from mcm.workqueue import RateLimitingQueue, default_controller_rate_limiter

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=KubeObject)

# Upstream MCM's worker.DefaultMaxRetries: a key that failed this many times in a row is dropped
# (forgotten) on its next failure, and waits for the next event or resync to be tried again.
DEFAULT_MAX_RETRIES = 15

# How long `Controller.run` waits, in real seconds, for its workers to finish after stop. A worker
# stuck in a reconcile (a hung cloud call) must not keep the process from shutting down; the
# workers are daemon threads, so one left behind does not block interpreter exit either.
DEFAULT_SHUTDOWN_TIMEOUT = 30.0

# A worker whose loop itself failed (not a reconcile: those are caught) starts again after this
# long, as upstream restarts worker goroutines with ``wait.Until(..., time.Second, stopCh)``.
WORKER_RESTART_DELAY = 1.0

# controller-runtime's reconcile_time_seconds buckets: 5 ms up to a minute, denser below 1 s.
RECONCILE_TIME_BUCKETS = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.15, 0.2, 0.25, 0.3, 0.35, 0.4, 0.45, 0.5, 0.6, 0.7, 0.8, 0.9,
    1.0, 1.25, 1.5, 1.75, 2.0, 2.5, 3.0, 3.5, 4.0, 4.5, 5.0, 6.0, 7.0, 8.0, 9.0, 10.0, 15.0, 20.0,
    25.0, 30.0, 40.0, 50.0, 60.0,
)  # fmt: skip


@attrs.frozen
class Result:
    """What a successful reconcile asks of the queue."""

    requeue_after: float | None = None
    """Reconcile the key again after this many seconds (if > 0), even if nothing changes."""


class Reconciler(Protocol):
    """Drives one object towards its desired state (controller-runtime's ``Reconciler``)."""

    def reconcile(self, key: ObjectKey) -> Result:
        """Make the object named *key* one step closer to its spec; raise to retry.

        Raise `mcm.errors.TerminalError` for a failure that retrying cannot fix. The object may be
        gone: a reconciler that finds nothing under *key* cleans up and returns ``Result()``.
        """
        ...


class Enqueuer(Protocol):
    """Anything keys can be added to; `Controller` is one."""

    def enqueue(self, key: ObjectKey) -> None: ...


class ControllerMetrics:
    """The reconcile series of every controller, labelled ``controller=<name>``.

    - ``mcm_controller_reconcile_total`` (counter, also labelled ``result``: ``success``,
      ``requeue_after`` or ``error``): reconciles.
    - ``mcm_controller_reconcile_errors_total`` (counter): reconciles that raised.
    - ``mcm_controller_terminal_reconcile_errors_total`` (counter): ... that raised `TerminalError`.
    - ``mcm_controller_reconcile_dropped_total`` (counter): keys given up on after *max_retries*.
    - ``mcm_controller_reconcile_time_seconds`` (histogram): how long each reconcile took.
    - ``mcm_controller_active_workers`` (gauge): workers reconciling right now.
    - ``mcm_controller_max_concurrent_reconciles`` (gauge): workers the controller runs.

    These are controller-runtime's ``controller_runtime_*`` series of the same names under MCM's
    ``mcm_`` prefix, plus ``reconcile_dropped_total`` for MCM's retry limit. Construct at most one
    per registry; tests pass their own `CollectorRegistry`.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        label = ["controller"]
        self.reconcile_total = prometheus_client.Counter(
            "mcm_controller_reconcile_total",
            "Total number of reconciliations per controller, by result.",
            ["controller", "result"],
            registry=registry,
        )
        self.reconcile_errors = prometheus_client.Counter(
            "mcm_controller_reconcile_errors_total",
            "Total number of reconciliation errors per controller.",
            label,
            registry=registry,
        )
        self.terminal_errors = prometheus_client.Counter(
            "mcm_controller_terminal_reconcile_errors_total",
            "Total number of terminal reconciliation errors per controller.",
            label,
            registry=registry,
        )
        self.dropped = prometheus_client.Counter(
            "mcm_controller_reconcile_dropped_total",
            "Total number of keys dropped after too many failed reconciliations per controller.",
            label,
            registry=registry,
        )
        self.reconcile_time = prometheus_client.Histogram(
            "mcm_controller_reconcile_time_seconds",
            "Length of time per reconciliation per controller.",
            label,
            buckets=RECONCILE_TIME_BUCKETS,
            registry=registry,
        )
        self.active_workers = prometheus_client.Gauge(
            "mcm_controller_active_workers",
            "Number of currently used workers per controller.",
            label,
            registry=registry,
        )
        self.max_concurrent_reconciles = prometheus_client.Gauge(
            "mcm_controller_max_concurrent_reconciles",
            "Maximum number of concurrent reconciles per controller.",
            label,
            registry=registry,
        )


_default_metrics: ControllerMetrics | None = None
_default_metrics_lock = threading.Lock()


def default_controller_metrics() -> ControllerMetrics:
    """The process-wide `ControllerMetrics` on ``prometheus_client.REGISTRY``, made on first use."""
    global _default_metrics  # noqa: PLW0603 -- one registration per process is the point
    with _default_metrics_lock:
        if _default_metrics is None:
            _default_metrics = ControllerMetrics(prometheus_client.REGISTRY)
        return _default_metrics


class _Series:
    """One controller's children of the `ControllerMetrics` series, resolved once."""

    def __init__(self, metrics: ControllerMetrics, name: str) -> None:
        self.success = metrics.reconcile_total.labels(controller=name, result="success")
        self.requeue_after = metrics.reconcile_total.labels(controller=name, result="requeue_after")
        self.error = metrics.reconcile_total.labels(controller=name, result="error")
        self.errors = metrics.reconcile_errors.labels(controller=name)
        self.terminal = metrics.terminal_errors.labels(controller=name)
        self.dropped = metrics.dropped.labels(controller=name)
        self.reconcile_time = metrics.reconcile_time.labels(controller=name)
        self.active_workers = metrics.active_workers.labels(controller=name)
        self.max_concurrent = metrics.max_concurrent_reconciles.labels(controller=name)


class Controller:
    """A work queue of keys, worker threads, and the decision table of the module docstring."""

    def __init__(
        self,
        name: str,
        reconciler: Reconciler,
        *,
        queue: RateLimitingQueue[ObjectKey] | None = None,  # None: client-go's default, named
        workers: int = 1,
        max_retries: int | None = None,  # None: retry forever; DEFAULT_MAX_RETRIES is upstream's
        clock: Clock | None = None,  # FakeClock in tests
        metrics: ControllerMetrics | None = None,  # None: the process-wide one
        shutdown_timeout: float = DEFAULT_SHUTDOWN_TIMEOUT,
    ) -> None:
        if workers < 1:
            raise ValueError(f"controller {name!r} needs at least one worker, not {workers}")
        if max_retries is not None and max_retries < 0:
            raise ValueError(f"controller {name!r}: max_retries must be >= 0, not {max_retries}")
        self._name = name
        self._reconciler = reconciler
        self._clock: Clock = clock if clock is not None else RealClock()
        self._queue: RateLimitingQueue[ObjectKey] = (
            queue
            if queue is not None
            else RateLimitingQueue(
                default_controller_rate_limiter(self._clock), name=name, clock=self._clock
            )
        )
        self._workers = workers
        self._max_retries = max_retries
        self._shutdown_timeout = shutdown_timeout
        self._series = _Series(
            metrics if metrics is not None else default_controller_metrics(), name
        )
        self._series.max_concurrent.set(workers)

    @property
    def name(self) -> str:
        """The controller's name: the prefix of its log lines and its metrics label."""
        return self._name

    @property
    def queue(self) -> RateLimitingQueue[ObjectKey]:
        """The work queue; handlers should prefer `enqueue` and its siblings."""
        return self._queue

    # --- adding keys ------------------------------------------------------------------------------

    def enqueue(self, key: ObjectKey) -> None:
        """Reconcile *key* as soon as a worker is free (collapsed with a pending add)."""
        self._queue.add(key)

    def enqueue_after(self, key: ObjectKey, delay: float) -> None:
        """Reconcile *key* after *delay* seconds; an earlier pending time for it wins."""
        self._queue.add_after(key, delay)

    def enqueue_rate_limited(self, key: ObjectKey) -> None:
        """Reconcile *key* once the rate limiter allows, counting one more failure for it."""
        self._queue.add_rate_limited(key)

    # --- workers ----------------------------------------------------------------------------------

    def process_next(self) -> bool:
        """Take one key, reconcile it, act on the outcome; False once the queue is shut down.

        Blocks until a key is ready. Workers loop on this; tests call it directly.
        """
        got = self._queue.get()
        if got[1]:
            return False
        key = got[0]
        try:
            self._handle(key)
        finally:
            self._queue.done(key)
        return True

    def run(self, stop: threading.Event, *, synced: Sequence[Callable[[], bool]] = ()) -> None:
        """Wait for *synced* caches, run the workers until *stop*, then shut down; blocks.

        If *stop* is set before every *synced* reports true, no worker starts. After *stop* the
        queue is shut down, the workers finish the keys already queued, and this returns once they
        have, or after *shutdown_timeout* real seconds, whichever comes first.
        """
        workers: list[threading.Thread] = []
        try:
            if synced and not wait_for_cache_sync(stop, *synced):
                logger.info("%s: stopped before the caches synced; not starting workers", self.name)
                return
            for index in range(self._workers):
                worker = threading.Thread(
                    target=self._work,
                    args=(stop,),
                    name=f"{self.name}-worker-{index}",
                    daemon=True,
                )
                worker.start()
                workers.append(worker)
            logger.info("%s: started %d workers", self.name, len(workers))
            stop.wait()
        finally:
            self._queue.shut_down()
        self._join(workers)

    def _join(self, workers: Sequence[threading.Thread]) -> None:
        deadline = time.monotonic() + self._shutdown_timeout
        for worker in workers:
            worker.join(max(0.0, deadline - time.monotonic()))
        stuck = [worker.name for worker in workers if worker.is_alive()]
        if stuck:
            logger.warning(
                "%s: %d workers still busy %.1f s after stop; leaving them: %s",
                self.name,
                len(stuck),
                self._shutdown_timeout,
                ", ".join(stuck),
            )
        else:
            logger.info("%s: all workers stopped", self.name)

    def _work(self, stop: threading.Event) -> None:
        while True:
            try:
                if not self.process_next():
                    return
            except Exception:  # not a reconcile failure (those are handled): a bug in the loop
                logger.exception(
                    "%s: worker failed; restarting in %.1f s", self.name, WORKER_RESTART_DELAY
                )
                if self._clock.wait(stop, WORKER_RESTART_DELAY):
                    return

    def _handle(self, key: ObjectKey) -> None:
        """Reconcile *key* and apply the decision table; never raises for a reconcile failure."""
        self._series.active_workers.inc()
        started = self._clock.monotonic()
        try:
            result = self._reconciler.reconcile(key)
            requeue_after = result.requeue_after  # inside the try: a non-Result is a bug, retried
        except TerminalError as exc:
            self._series.error.inc()
            self._series.errors.inc()
            self._series.terminal.inc()
            # Deliberate, so its message explains it: no traceback.
            logger.error(  # noqa: TRY400
                "%s: reconcile of %s failed permanently; not retrying: %s", self.name, key, exc
            )
            self._queue.forget(key)
        except Exception as exc:  # noqa: BLE001 -- a worker must survive any reconcile bug
            self._series.error.inc()
            self._series.errors.inc()
            self._retry_or_drop(key, exc)
        else:
            self._queue.forget(key)
            if requeue_after is not None and requeue_after > 0:
                self._series.requeue_after.inc()
                self._queue.add_after(key, requeue_after)
            else:
                self._series.success.inc()
        finally:
            self._series.reconcile_time.observe(self._clock.monotonic() - started)
            self._series.active_workers.dec()

    def _retry_or_drop(self, key: ObjectKey, exc: Exception) -> None:
        # Errors we raise on purpose explain themselves; anything else is a bug and needs the stack.
        exc_info = None if isinstance(exc, MCMError) else exc
        requeues = self._queue.num_requeues(key)
        if self._max_retries is not None and requeues >= self._max_retries:
            self._series.dropped.inc()
            logger.error(
                "%s: dropping %s out of the queue after %d retries: %s",
                self.name,
                key,
                requeues,
                exc,
                exc_info=exc_info,
            )
            self._queue.forget(key)
            return
        logger.warning(
            "%s: reconcile of %s failed (retry %d); retrying with back-off: %s",
            self.name,
            key,
            requeues + 1,
            exc,
            exc_info=exc_info,
        )
        self._queue.add_rate_limited(key)


# --- informer event handlers ----------------------------------------------------------------------


KeyFunc = Callable[[T], ObjectKey | Iterable[ObjectKey] | None]
"""Maps an object to the key(s) to reconcile: its own, its owner's, none (``None``) or several."""


class EnqueueHandler(Generic[T]):
    """A `ResourceEventHandler` that enqueues keys computed from objects; see `enqueue_handler`."""

    def __init__(
        self,
        controller: Enqueuer,
        *,
        key_fn: KeyFunc[T] | None = None,
        filter: Callable[[T], bool] | None = None,
        update_filter: Callable[[T, T], bool] | None = None,
        resync: bool = False,
    ) -> None:
        self._controller = controller
        self._key_fn = key_fn
        self._filter = filter
        self._update_filter = update_filter
        self._resync = resync

    def on_add(self, obj: T) -> None:
        self._enqueue(self._keys(obj))

    def on_update(self, old: T, new: T) -> None:
        if not self._resync and old.metadata.resource_version == new.metadata.resource_version:
            return  # a periodic resync: nothing changed
        if self._update_filter is not None and not self._update_filter(old, new):
            return
        keys = self._keys(new)
        if self._key_fn is not None:
            keys += [key for key in self._keys(old) if key not in keys]  # e.g. the previous owner
        self._enqueue(keys)

    def on_delete(self, obj: T | DeletedFinalStateUnknown[T]) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            if obj.obj is not None:
                self._enqueue(self._keys(obj.obj))
            elif self._key_fn is None:
                self._enqueue([obj.key])  # the last state is unknown, but its own key is not
            else:
                logger.debug("tombstone of %s carries no object; no keys to map it to", obj.key)
            return
        self._enqueue(self._keys(obj))

    def _keys(self, obj: T) -> list[ObjectKey]:
        if self._filter is not None and not self._filter(obj):
            return []
        if self._key_fn is None:
            return [obj.metadata.key]
        mapped = self._key_fn(obj)
        if mapped is None:
            return []
        if isinstance(mapped, ObjectKey):
            return [mapped]
        return list(dict.fromkeys(mapped))

    def _enqueue(self, keys: Iterable[ObjectKey]) -> None:
        for key in keys:
            self._controller.enqueue(key)


def enqueue_handler(
    controller: Enqueuer,
    *,
    key_fn: KeyFunc[T] | None = None,
    filter: Callable[[T], bool] | None = None,
    update_filter: Callable[[T, T], bool] | None = None,
    resync: bool = False,
) -> ResourceEventHandler[T]:
    """An informer handler that adds keys to *controller* (sample-controller's ``handleObject``).

    - The key is the object's own ``metadata.key``, or whatever *key_fn* maps it to (an owner's
      key, a node's machine, several keys, or ``None`` for none).
    - An object for which *filter* returns False maps to no keys.
    - Updates whose resourceVersion did not change are periodic resyncs and are ignored unless
      *resync* is true; other updates are ignored when *update_filter(old, new)* returns False.
      With a *key_fn*, an update enqueues the keys of the old object too, so that a changed owner
      hears about the object it lost.
    - Deletions missed while the watch was down arrive as `DeletedFinalStateUnknown`; the handler
      maps the last known state. When that is unknown, only the default key can be computed.
    """
    return EnqueueHandler(
        controller, key_fn=key_fn, filter=filter, update_filter=update_filter, resync=resync
    )
