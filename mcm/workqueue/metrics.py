"""Workqueue metrics: client-go's names, recorded through a `MetricsProvider`.

A queue with a name records seven series, each labelled ``name=<queue name>``, exactly as
client-go's Prometheus workqueue provider names them:

    workqueue_depth                              gauge      keys waiting to be handed out
    workqueue_adds_total                         counter    adds not collapsed into a dirty key
    workqueue_queue_duration_seconds             histogram  time from add to get
    workqueue_work_duration_seconds              histogram  time from get to done
    workqueue_unfinished_work_seconds            gauge      summed age of the keys in flight
    workqueue_longest_running_processor_seconds  gauge      age of the oldest key in flight
    workqueue_retries_total                      counter    calls to add_after

An unnamed queue (``name=""``) records nothing, as in client-go. The two "unfinished" gauges are not
kept current on every call: a queue refreshes them every `UNFINISHED_WORK_UPDATE_PERIOD` seconds
from a background thread, through `Queue.update_unfinished_work`.

`MetricsProvider` is the seam. `PrometheusMetricsProvider` records into a ``prometheus_client``
`CollectorRegistry` (tests pass their own); `default_metrics_provider` is the process-wide one on
``prometheus_client.REGISTRY``, created on first use so that each series is registered once per
process. Durations are float seconds, measured on the queue's `Clock`.
"""

from __future__ import annotations

import threading
from collections.abc import Hashable
from typing import Generic, Protocol, TypeVar

import prometheus_client
from prometheus_client import CollectorRegistry

from mcm.clock import Clock

K = TypeVar("K", bound=Hashable)

# How often a named queue refreshes its unfinished-work gauges
# (client-go's defaultUnfinishedWorkUpdatePeriod).
UNFINISHED_WORK_UPDATE_PERIOD = 0.5

# client-go's ExponentialBuckets(10e-9, 10, 10): 10 ns up to 10 s.
DURATION_BUCKETS = (1e-8, 1e-7, 1e-6, 1e-5, 1e-4, 1e-3, 1e-2, 1e-1, 1.0, 10.0)


class GaugeMetric(Protocol):
    """A value that goes up and down by one."""

    def inc(self) -> None: ...

    def dec(self) -> None: ...


class SettableGaugeMetric(Protocol):
    """A value that is set outright."""

    def set(self, value: float, /) -> None: ...


class CounterMetric(Protocol):
    """A value that only goes up."""

    def inc(self) -> None: ...


class HistogramMetric(Protocol):
    """A distribution of observations."""

    def observe(self, value: float, /) -> None: ...


class MetricsProvider(Protocol):
    """Makes the metrics of one named queue (client-go's ``MetricsProvider``)."""

    def new_depth_metric(self, name: str) -> GaugeMetric: ...

    def new_adds_metric(self, name: str) -> CounterMetric: ...

    def new_latency_metric(self, name: str) -> HistogramMetric: ...

    def new_work_duration_metric(self, name: str) -> HistogramMetric: ...

    def new_unfinished_work_seconds_metric(self, name: str) -> SettableGaugeMetric: ...

    def new_longest_running_processor_seconds_metric(self, name: str) -> SettableGaugeMetric: ...

    def new_retries_metric(self, name: str) -> CounterMetric: ...


class PrometheusMetricsProvider:
    """Registers client-go's workqueue series on *registry*; hands out one labelled child per queue.

    Construct at most one per registry: a second would register the same series twice, which
    ``prometheus_client`` refuses. Queues that share a name share their series.
    """

    def __init__(self, registry: CollectorRegistry) -> None:
        labels = ["name"]
        self._depth = prometheus_client.Gauge(
            "workqueue_depth", "Current depth of workqueue", labels, registry=registry
        )
        self._adds = prometheus_client.Counter(
            "workqueue_adds_total",
            "Total number of adds handled by workqueue",
            labels,
            registry=registry,
        )
        self._latency = prometheus_client.Histogram(
            "workqueue_queue_duration_seconds",
            "How long in seconds an item stays in workqueue before being requested.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._work_duration = prometheus_client.Histogram(
            "workqueue_work_duration_seconds",
            "How long in seconds processing an item from workqueue takes.",
            labels,
            buckets=DURATION_BUCKETS,
            registry=registry,
        )
        self._unfinished_work = prometheus_client.Gauge(
            "workqueue_unfinished_work_seconds",
            "How many seconds of work has done that is in progress and hasn't been observed by "
            "work_duration. Large values indicate stuck threads. One can deduce the number of "
            "stuck threads by observing the rate at which this increases.",
            labels,
            registry=registry,
        )
        self._longest_running = prometheus_client.Gauge(
            "workqueue_longest_running_processor_seconds",
            "How many seconds has the longest running processor for workqueue been running.",
            labels,
            registry=registry,
        )
        self._retries = prometheus_client.Counter(
            "workqueue_retries_total",
            "Total number of retries handled by workqueue",
            labels,
            registry=registry,
        )

    def new_depth_metric(self, name: str) -> GaugeMetric:
        return self._depth.labels(name=name)

    def new_adds_metric(self, name: str) -> CounterMetric:
        return self._adds.labels(name=name)

    def new_latency_metric(self, name: str) -> HistogramMetric:
        return self._latency.labels(name=name)

    def new_work_duration_metric(self, name: str) -> HistogramMetric:
        return self._work_duration.labels(name=name)

    def new_unfinished_work_seconds_metric(self, name: str) -> SettableGaugeMetric:
        return self._unfinished_work.labels(name=name)

    def new_longest_running_processor_seconds_metric(self, name: str) -> SettableGaugeMetric:
        return self._longest_running.labels(name=name)

    def new_retries_metric(self, name: str) -> CounterMetric:
        return self._retries.labels(name=name)


_default_provider: PrometheusMetricsProvider | None = None
_default_provider_lock = threading.Lock()


def default_metrics_provider() -> MetricsProvider:
    """The process-wide provider on ``prometheus_client.REGISTRY``, registered on first use."""
    global _default_provider  # noqa: PLW0603 -- one registration per process is the point
    with _default_provider_lock:
        if _default_provider is None:
            _default_provider = PrometheusMetricsProvider(prometheus_client.REGISTRY)
        return _default_provider


class QueueMetrics(Generic[K]):
    """The metrics of one named queue (client-go's ``defaultQueueMetrics``).

    Not thread-safe on its own: the queue calls every method while holding its lock.
    """

    def __init__(self, provider: MetricsProvider, name: str, clock: Clock) -> None:
        self._clock = clock
        self._depth = provider.new_depth_metric(name)
        self._adds = provider.new_adds_metric(name)
        self._latency = provider.new_latency_metric(name)
        self._work_duration = provider.new_work_duration_metric(name)
        self._unfinished_work = provider.new_unfinished_work_seconds_metric(name)
        self._longest_running = provider.new_longest_running_processor_seconds_metric(name)
        self._add_times: dict[K, float] = {}  # key -> when it became dirty; cleared by get
        self._processing_start_times: dict[K, float] = {}  # key -> when get handed it out

    def add(self, key: K) -> None:
        self._adds.inc()
        self._depth.inc()
        self._add_times.setdefault(key, self._clock.monotonic())

    def get(self, key: K) -> None:
        now = self._clock.monotonic()
        self._depth.dec()
        self._processing_start_times[key] = now
        added = self._add_times.pop(key, None)
        if added is not None:
            self._latency.observe(now - added)

    def done(self, key: K) -> None:
        started = self._processing_start_times.pop(key, None)
        if started is not None:
            self._work_duration.observe(self._clock.monotonic() - started)

    def update_unfinished_work(self) -> None:
        now = self._clock.monotonic()
        ages = [now - started for started in self._processing_start_times.values()]
        self._unfinished_work.set(sum(ages))
        self._longest_running.set(max(ages, default=0.0))


class RetryMetrics:
    """The retry counter of one named delaying queue."""

    def __init__(self, provider: MetricsProvider, name: str) -> None:
        self._retries = provider.new_retries_metric(name)

    def retry(self) -> None:
        self._retries.inc()
