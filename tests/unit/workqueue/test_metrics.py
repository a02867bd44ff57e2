"""Metrics: client-go's series and values, read back from a private registry."""

from __future__ import annotations

import time
from collections.abc import Callable

import pytest
from prometheus_client import CollectorRegistry

from mcm.clock import FakeClock
from mcm.workqueue import (
    ItemFastSlowRateLimiter,
    PrometheusMetricsProvider,
    Queue,
    RateLimitingQueue,
    default_metrics_provider,
)
from mcm.workqueue.metrics import UNFINISHED_WORK_UPDATE_PERIOD

pytestmark = pytest.mark.timeout(20)

LABELS = {"name": "test"}

MakeRateLimiting = Callable[..., RateLimitingQueue[str]]
Sample = Callable[..., float | None]


@pytest.fixture
def sample(registry: CollectorRegistry) -> Sample:
    """``sample(series)``: the value of *series* for the queue named "test", or None."""

    def value(series: str, labels: dict[str, str] = LABELS) -> float | None:
        found: float | None = registry.get_sample_value(series, labels)
        return found

    return value


@pytest.fixture
def named_queue(
    make_queue: Callable[..., Queue[str]], metrics_provider: PrometheusMetricsProvider
) -> Queue[str]:
    return make_queue(name="test", metrics_provider=metrics_provider)


def test_add_counts_the_add_and_raises_the_depth(named_queue: Queue[str], sample: Sample) -> None:
    named_queue.add("a")
    named_queue.add("a")  # collapsed: not counted
    named_queue.add("b")

    assert sample("workqueue_adds_total") == 2
    assert sample("workqueue_depth") == 2


def test_get_lowers_the_depth_and_observes_how_long_the_key_waited(
    named_queue: Queue[str], clock: FakeClock, sample: Sample
) -> None:
    named_queue.add("a")
    clock.step(50e-6)

    named_queue.get()

    assert sample("workqueue_depth") == 0
    assert sample("workqueue_queue_duration_seconds_count") == 1
    assert sample("workqueue_queue_duration_seconds_sum") == pytest.approx(50e-6)


def test_done_observes_how_long_the_key_was_processed(
    named_queue: Queue[str], clock: FakeClock, sample: Sample
) -> None:
    named_queue.add("a")
    named_queue.get()
    clock.step(25e-6)

    named_queue.done("a")

    assert sample("workqueue_work_duration_seconds_count") == 1
    assert sample("workqueue_work_duration_seconds_sum") == pytest.approx(25e-6)


def test_a_key_re_added_while_processing_is_counted_once_and_stays_in_the_depth(
    named_queue: Queue[str], clock: FakeClock, sample: Sample
) -> None:
    # client-go's TestMetrics, step by step.
    named_queue.add("a")
    clock.step(50e-6)
    named_queue.get()
    for _ in range(5):
        named_queue.add("a")

    assert sample("workqueue_adds_total") == 2
    assert sample("workqueue_depth") == 1
    clock.step(25e-6)
    named_queue.done("a")
    assert sample("workqueue_depth") == 1
    named_queue.get()
    assert sample("workqueue_depth") == 0
    assert sample("workqueue_queue_duration_seconds_count") == 2
    # The second wait is measured from the re-add, not from the first add.
    assert sample("workqueue_queue_duration_seconds_sum") == pytest.approx(50e-6 + 25e-6)


def test_update_unfinished_work_sums_and_maxes_the_ages_of_keys_in_flight(
    named_queue: Queue[str], clock: FakeClock, sample: Sample
) -> None:
    named_queue.add("old")
    named_queue.add("new")
    named_queue.get()
    clock.step(0.002)
    named_queue.get()
    clock.step(0.001)

    named_queue.update_unfinished_work()

    assert sample("workqueue_unfinished_work_seconds") == pytest.approx(0.003 + 0.001)
    assert sample("workqueue_longest_running_processor_seconds") == pytest.approx(0.003)


def test_update_unfinished_work_reads_zero_once_every_key_is_done(
    named_queue: Queue[str], clock: FakeClock, sample: Sample
) -> None:
    named_queue.add("a")
    named_queue.get()
    clock.step(1.0)
    named_queue.update_unfinished_work()

    named_queue.done("a")
    named_queue.update_unfinished_work()

    assert sample("workqueue_unfinished_work_seconds") == 0
    assert sample("workqueue_longest_running_processor_seconds") == 0


def test_the_metrics_thread_refreshes_unfinished_work_periodically(
    named_queue: Queue[str], clock: FakeClock, sample: Sample
) -> None:
    named_queue.add("a")
    named_queue.get()
    assert clock.wait_for_waiters(1)

    clock.step(UNFINISHED_WORK_UPDATE_PERIOD)

    deadline = time.monotonic() + 5.0
    while sample("workqueue_longest_running_processor_seconds") != UNFINISHED_WORK_UPDATE_PERIOD:
        assert time.monotonic() < deadline, "the metrics thread did not refresh the gauges"
        time.sleep(0.001)  # polling another thread's write, not waiting for logic


def test_shut_down_stops_the_metrics_thread(named_queue: Queue[str]) -> None:
    updater = named_queue._updater

    named_queue.shut_down()

    assert updater is not None
    assert not updater.is_alive()


def test_retries_count_every_add_after_and_add_rate_limited(
    make_rate_limiting_queue: MakeRateLimiting,
    metrics_provider: PrometheusMetricsProvider,
    sample: Sample,
) -> None:
    q = make_rate_limiting_queue(
        ItemFastSlowRateLimiter[str](1.0, 2.0, 1), name="test", metrics_provider=metrics_provider
    )

    q.add_after("a", 0.0)
    q.add_after("b", 5.0)
    q.add_rate_limited("c")
    q.add("d")  # a plain add is not a retry

    assert sample("workqueue_retries_total") == 3
    assert sample("workqueue_adds_total") == 2  # "a" and "d"; the others are still waiting


def test_an_unnamed_queue_records_nothing(
    make_rate_limiting_queue: MakeRateLimiting,
    metrics_provider: PrometheusMetricsProvider,
    registry: CollectorRegistry,
) -> None:
    q = make_rate_limiting_queue(
        ItemFastSlowRateLimiter[str](1.0, 2.0, 1), metrics_provider=metrics_provider
    )

    q.add("a")
    q.get()
    q.done("a")
    q.add_rate_limited("b")

    names = {s.name for metric in registry.collect() for s in metric.samples}
    assert not names  # label-only series have no samples until a child is made


@pytest.mark.parametrize(
    ("le", "observed"),
    [
        pytest.param("1e-08", 0.0, id="smallest-bucket-10ns"),
        pytest.param("0.001", 0.0, id="1ms"),
        pytest.param("0.01", 1.0, id="10ms"),
        pytest.param("10.0", 1.0, id="largest-bucket-10s"),
        pytest.param("+Inf", 1.0, id="inf"),
    ],
)
def test_duration_histograms_use_client_gos_buckets(
    named_queue: Queue[str], clock: FakeClock, sample: Sample, le: str, observed: float
) -> None:
    named_queue.add("a")
    clock.step(0.005)

    named_queue.get()

    assert sample("workqueue_queue_duration_seconds_bucket", {"name": "test", "le": le}) == observed


def test_the_default_provider_is_registered_once_per_process() -> None:
    assert default_metrics_provider() is default_metrics_provider()
