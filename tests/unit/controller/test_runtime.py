"""Controller: the worker decision table, worker threads, metrics, and the informer handlers."""

from __future__ import annotations

import contextlib
import logging
import threading
import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from prometheus_client import CollectorRegistry

from mcm.api.meta import GenericObject, ObjectKey
from mcm.cache import DeletedFinalStateUnknown, ResourceEventHandler
from mcm.clock import FakeClock
from mcm.controller.runtime import (
    DEFAULT_MAX_RETRIES,
    Controller,
    ControllerMetrics,
    Result,
    enqueue_handler,
)
from mcm.errors import ConflictError, TerminalError
from mcm.workqueue import ItemExponentialFailureRateLimiter, RateLimitingQueue

pytestmark = pytest.mark.timeout(20)

BOUND = 5.0
"""Real seconds a test waits for another thread before failing; far above what any step needs."""

KEY = ObjectKey("shoot--a", "machine-1")

Outcome = Result | BaseException | None


class ScriptedReconciler:
    """Answers each reconcile with the next scripted outcome (``Result()`` once they run out)."""

    def __init__(self, *outcomes: Outcome) -> None:
        self._outcomes = list(outcomes)
        self._lock = threading.Lock()
        self.calls: list[ObjectKey] = []

    def reconcile(self, key: ObjectKey) -> Result:
        with self._lock:
            self.calls.append(key)
            outcome = self._outcomes.pop(0) if self._outcomes else Result()
        if isinstance(outcome, BaseException):
            raise outcome
        return outcome  # type: ignore[return-value]  # None: a reconciler with a bug


class FunctionReconciler:
    """Calls *fn* for every key, from whichever worker thread runs it."""

    def __init__(self, fn: Callable[[ObjectKey], Result]) -> None:
        self._fn = fn

    def reconcile(self, key: ObjectKey) -> Result:
        return self._fn(key)


def wait_for(predicate: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + BOUND
    while not predicate():
        if time.monotonic() > deadline:
            pytest.fail(f"timed out waiting for {what}")
        time.sleep(0.001)  # polling another thread's state, not waiting for logic


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def registry() -> CollectorRegistry:
    return CollectorRegistry()


@pytest.fixture
def metrics(registry: CollectorRegistry) -> ControllerMetrics:
    return ControllerMetrics(registry)


@pytest.fixture
def limiter() -> ItemExponentialFailureRateLimiter[ObjectKey]:
    """1 s, 2 s, 4 s ...: delays a test can step through."""
    return ItemExponentialFailureRateLimiter(base_delay=1.0, max_delay=60.0)


@pytest.fixture
def queue(
    limiter: ItemExponentialFailureRateLimiter[ObjectKey], clock: FakeClock
) -> Iterator[RateLimitingQueue[ObjectKey]]:
    q: RateLimitingQueue[ObjectKey] = RateLimitingQueue(limiter, clock=clock)
    yield q
    q.shut_down()


@pytest.fixture
def make_controller(
    queue: RateLimitingQueue[ObjectKey], clock: FakeClock, metrics: ControllerMetrics
) -> Callable[..., Controller]:
    def make(reconciler: Any, **kwargs: Any) -> Controller:
        kwargs.setdefault("queue", queue)
        kwargs.setdefault("clock", clock)
        kwargs.setdefault("metrics", metrics)
        return Controller("test", reconciler, **kwargs)

    return make


def wait_until_parked(q: RateLimitingQueue[ObjectKey], clock: FakeClock) -> None:
    """Block until *q*'s delay thread has seen every add_after and sleeps on the clock.

    It reads the clock, then waits a relative timeout: a step between the two would be lost, so a
    test steps only once the thread is parked with its next look still in the future.
    """
    delaying = q._queue
    wait_for(
        lambda: (
            not delaying._wakeup.is_set()
            and (delaying._next_check or 0.0) > clock.monotonic()
            and clock.waiters >= 1
        ),
        "the delay thread to park",
    )


def step_and_expect(q: RateLimitingQueue[ObjectKey], clock: FakeClock, seconds: float) -> None:
    """Step the clock by *seconds* and wait until a key is ready in *q*."""
    wait_until_parked(q, clock)
    clock.step(seconds)
    wait_for(lambda: len(q) == 1, "the delayed key")


def assert_not_ready_after(
    q: RateLimitingQueue[ObjectKey], clock: FakeClock, seconds: float
) -> None:
    wait_until_parked(q, clock)
    clock.step(seconds)
    wait_until_parked(q, clock)  # the thread looked at the new time and went back to sleep
    assert len(q) == 0


@contextlib.contextmanager
def running(controller: Controller, **kwargs: Any) -> Iterator[threading.Event]:
    """Run *controller* in a thread; on exit set stop and require run to return within BOUND."""
    stop = threading.Event()
    thread = threading.Thread(target=controller.run, args=(stop,), kwargs=kwargs, daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(BOUND)
        assert not thread.is_alive(), "Controller.run did not return after stop"


# --- the decision table ---------------------------------------------------------------------------


def test_a_successful_reconcile_forgets_the_failure_history(
    make_controller: Callable[..., Controller], queue: RateLimitingQueue[ObjectKey]
) -> None:
    controller = make_controller(ScriptedReconciler(RuntimeError("boom"), Result()))
    queue.add(KEY)
    controller.process_next()
    assert queue.num_requeues(KEY) == 1

    queue.add(KEY)
    controller.process_next()

    assert queue.num_requeues(KEY) == 0
    assert len(queue) == 0


def test_a_failed_reconcile_is_retried_after_a_delay_that_grows_with_each_failure(
    make_controller: Callable[..., Controller],
    queue: RateLimitingQueue[ObjectKey],
    clock: FakeClock,
) -> None:
    reconciler = ScriptedReconciler(ConflictError("stale"), ConflictError("stale again"))
    controller = make_controller(reconciler)
    controller.enqueue(KEY)

    controller.process_next()
    assert_not_ready_after(queue, clock, 0.9)
    step_and_expect(queue, clock, 0.1)  # first retry: 1 s
    controller.process_next()
    assert_not_ready_after(queue, clock, 1.9)
    step_and_expect(queue, clock, 0.1)  # second retry: 2 s

    assert reconciler.calls == [KEY, KEY]
    assert queue.num_requeues(KEY) == 2


def test_a_terminal_error_forgets_the_key_and_does_not_retry(
    make_controller: Callable[..., Controller],
    queue: RateLimitingQueue[ObjectKey],
    limiter: ItemExponentialFailureRateLimiter[ObjectKey],
    clock: FakeClock,
) -> None:
    limiter.when(KEY)  # an earlier failure
    controller = make_controller(ScriptedReconciler(TerminalError("invalid spec")))
    controller.enqueue(KEY)

    controller.process_next()

    assert queue.num_requeues(KEY) == 0
    assert_not_ready_after(queue, clock, 3600.0)


@pytest.mark.parametrize(
    ("max_retries", "earlier_failures", "retried"),
    [
        pytest.param(3, 2, True, id="below-the-limit-retries"),
        pytest.param(3, 3, False, id="at-the-limit-drops"),
        pytest.param(0, 0, False, id="zero-never-retries"),
        pytest.param(None, 100, True, id="none-retries-forever"),
        pytest.param(DEFAULT_MAX_RETRIES, 14, True, id="upstream-default-15th-retry"),
        pytest.param(DEFAULT_MAX_RETRIES, 15, False, id="upstream-default-drops-on-16th-failure"),
    ],
)
def test_max_retries_drops_a_key_that_failed_too_often(
    make_controller: Callable[..., Controller],
    limiter: ItemExponentialFailureRateLimiter[ObjectKey],
    max_retries: int | None,
    earlier_failures: int,
    retried: bool,
) -> None:
    for _ in range(earlier_failures):
        limiter.when(KEY)
    controller = make_controller(ScriptedReconciler(RuntimeError("boom")), max_retries=max_retries)
    controller.enqueue(KEY)

    controller.process_next()

    assert controller.queue.num_requeues(KEY) == (earlier_failures + 1 if retried else 0)


def test_requeue_after_forgets_the_failures_and_adds_the_key_at_the_deadline(
    make_controller: Callable[..., Controller],
    queue: RateLimitingQueue[ObjectKey],
    limiter: ItemExponentialFailureRateLimiter[ObjectKey],
    clock: FakeClock,
) -> None:
    limiter.when(KEY)
    limiter.when(KEY)
    reconciler = ScriptedReconciler(Result(requeue_after=30.0))
    controller = make_controller(reconciler)
    controller.enqueue(KEY)

    controller.process_next()

    assert queue.num_requeues(KEY) == 0
    assert_not_ready_after(queue, clock, 29.0)
    step_and_expect(queue, clock, 1.0)
    controller.process_next()
    assert reconciler.calls == [KEY, KEY]


@pytest.mark.parametrize(
    "result",
    [
        pytest.param(Result(), id="no-requeue"),
        pytest.param(Result(requeue_after=0.0), id="zero-delay"),
        pytest.param(Result(requeue_after=-5.0), id="negative-delay"),
    ],
)
def test_a_result_without_a_positive_delay_only_forgets(
    make_controller: Callable[..., Controller],
    queue: RateLimitingQueue[ObjectKey],
    limiter: ItemExponentialFailureRateLimiter[ObjectKey],
    clock: FakeClock,
    result: Result,
) -> None:
    limiter.when(KEY)
    controller = make_controller(ScriptedReconciler(result))
    controller.enqueue(KEY)

    controller.process_next()

    assert queue.num_requeues(KEY) == 0
    assert_not_ready_after(queue, clock, 3600.0)


def test_a_reconciler_returning_no_result_is_a_failure_and_retried(
    make_controller: Callable[..., Controller], queue: RateLimitingQueue[ObjectKey]
) -> None:
    controller = make_controller(ScriptedReconciler(None))
    controller.enqueue(KEY)

    assert controller.process_next()

    assert queue.num_requeues(KEY) == 1


def test_a_key_added_during_its_reconcile_is_reconciled_once_more(
    make_controller: Callable[..., Controller], queue: RateLimitingQueue[ObjectKey]
) -> None:
    controller: Controller

    def reconcile(key: ObjectKey) -> Result:
        controller.enqueue(key)
        controller.enqueue(key)
        return Result()

    controller = make_controller(FunctionReconciler(reconcile))
    controller.enqueue(KEY)

    controller.process_next()

    assert len(queue) == 1


def test_process_next_returns_false_once_the_queue_is_shut_down(
    make_controller: Callable[..., Controller], queue: RateLimitingQueue[ObjectKey]
) -> None:
    reconciler = ScriptedReconciler()
    controller = make_controller(reconciler)
    controller.enqueue(KEY)
    queue.shut_down()

    assert controller.process_next()  # what was queued is still handed out
    assert not controller.process_next()
    assert reconciler.calls == [KEY]


def test_enqueue_after_and_enqueue_rate_limited_go_through_the_queue(
    make_controller: Callable[..., Controller],
    queue: RateLimitingQueue[ObjectKey],
    clock: FakeClock,
) -> None:
    controller = make_controller(ScriptedReconciler())
    other = ObjectKey("shoot--a", "machine-2")

    controller.enqueue_after(KEY, 10.0)
    controller.enqueue_rate_limited(other)

    assert queue.num_requeues(other) == 1
    assert_not_ready_after(queue, clock, 0.5)
    step_and_expect(queue, clock, 0.5)  # the rate-limited key, after 1 s
    assert queue.get() == (other, False)
    queue.done(other)
    assert_not_ready_after(queue, clock, 8.0)
    step_and_expect(queue, clock, 1.0)
    assert queue.get() == (KEY, False)
    queue.done(KEY)


def test_the_constructor_refuses_nonsense(make_controller: Callable[..., Controller]) -> None:
    with pytest.raises(ValueError, match="at least one worker"):
        make_controller(ScriptedReconciler(), workers=0)
    with pytest.raises(ValueError, match="max_retries"):
        make_controller(ScriptedReconciler(), max_retries=-1)


def test_without_a_queue_the_controller_builds_client_gos_default(
    clock: FakeClock, metrics: ControllerMetrics
) -> None:
    reconciler = ScriptedReconciler(RuntimeError("boom"))
    controller = Controller("default-queue", reconciler, clock=clock, metrics=metrics)
    try:
        controller.enqueue(KEY)

        controller.process_next()

        assert controller.queue.num_requeues(KEY) == 1
        assert reconciler.calls == [KEY]
    finally:
        controller.queue.shut_down()


# --- logging and metrics --------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "with_traceback"),
    [
        pytest.param(ValueError("a bug"), True, id="bug-with-traceback"),
        pytest.param(ConflictError("stale"), False, id="mcm-error-without-traceback"),
    ],
)
def test_a_failed_reconcile_is_logged_with_the_controller_name_and_key(
    make_controller: Callable[..., Controller],
    caplog: pytest.LogCaptureFixture,
    error: Exception,
    with_traceback: bool,
) -> None:
    controller = make_controller(ScriptedReconciler(error))
    controller.enqueue(KEY)

    with caplog.at_level(logging.WARNING, logger="mcm.controller.runtime"):
        controller.process_next()

    [record] = caplog.records
    assert "test" in record.getMessage()
    assert str(KEY) in record.getMessage()
    assert str(error) in record.getMessage()
    assert (record.exc_info is not None) is with_traceback


def test_a_dropped_key_is_logged(
    make_controller: Callable[..., Controller], caplog: pytest.LogCaptureFixture
) -> None:
    controller = make_controller(ScriptedReconciler(RuntimeError("boom")), max_retries=0)
    controller.enqueue(KEY)

    with caplog.at_level(logging.ERROR, logger="mcm.controller.runtime"):
        controller.process_next()

    assert [r.getMessage() for r in caplog.records] == [
        f"test: dropping {KEY} out of the queue after 0 retries: boom"
    ]


def test_every_reconcile_is_counted_and_timed(
    make_controller: Callable[..., Controller],
    registry: CollectorRegistry,
    queue: RateLimitingQueue[ObjectKey],
    clock: FakeClock,
) -> None:
    def reconcile(key: ObjectKey) -> Result:
        clock.step(0.2)  # a reconcile that takes 200 ms
        return next(outcomes)(key)

    def fail(key: ObjectKey) -> Result:
        raise RuntimeError("boom")

    def fail_terminally(key: ObjectKey) -> Result:
        raise TerminalError("no")

    outcomes = iter(
        [
            lambda key: Result(),
            lambda key: Result(requeue_after=5.0),
            fail,
            fail,
            fail_terminally,
        ]
    )
    controller = make_controller(FunctionReconciler(reconcile), max_retries=1)
    for index in range(5):
        queue.add(ObjectKey("ns", f"m{index}"))
        controller.process_next()

    def sample(name: str, **labels: str) -> float | None:
        return registry.get_sample_value(name, {"controller": "test", **labels})

    assert sample("mcm_controller_reconcile_total", result="success") == 1
    assert sample("mcm_controller_reconcile_total", result="requeue_after") == 1
    assert sample("mcm_controller_reconcile_total", result="error") == 3
    assert sample("mcm_controller_reconcile_errors_total") == 3
    assert sample("mcm_controller_terminal_reconcile_errors_total") == 1
    assert sample("mcm_controller_reconcile_dropped_total") == 0  # each key failed only once
    assert sample("mcm_controller_reconcile_time_seconds_count") == 5
    assert sample("mcm_controller_reconcile_time_seconds_sum") == pytest.approx(1.0)
    assert sample("mcm_controller_active_workers") == 0
    assert sample("mcm_controller_max_concurrent_reconciles") == 1


# --- worker threads -------------------------------------------------------------------------------


def test_a_crashing_reconcile_does_not_kill_its_worker(
    make_controller: Callable[..., Controller],
) -> None:
    reconciled = threading.Event()
    bad = ObjectKey("ns", "bad")

    def reconcile(key: ObjectKey) -> Result:
        if key == bad:
            raise ZeroDivisionError("a bug")
        reconciled.set()
        return Result()

    controller = make_controller(FunctionReconciler(reconcile), workers=1)

    with running(controller):
        controller.enqueue(bad)
        controller.enqueue(KEY)

        assert reconciled.wait(BOUND)


def test_run_keeps_reconciling_until_stop_and_then_returns(
    make_controller: Callable[..., Controller], queue: RateLimitingQueue[ObjectKey]
) -> None:
    reconciler = ScriptedReconciler()
    controller = make_controller(reconciler)
    stop = threading.Event()
    runner = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    runner.start()

    controller.enqueue(ObjectKey("ns", "first"))
    wait_for(lambda: len(reconciler.calls) == 1, "the first reconcile")
    controller.enqueue(ObjectKey("ns", "second"))
    wait_for(lambda: len(reconciler.calls) == 2, "the second reconcile")
    assert runner.is_alive()
    stop.set()
    runner.join(BOUND)

    assert not runner.is_alive()
    assert queue.shutting_down


def test_run_reconciles_with_all_its_workers_at_once_and_returns_after_stop(
    make_controller: Callable[..., Controller],
) -> None:
    together = threading.Barrier(3, timeout=BOUND)  # passes only if 3 reconciles overlap
    threads: set[str] = set()
    lock = threading.Lock()
    done: list[ObjectKey] = []

    def reconcile(key: ObjectKey) -> Result:
        if key.name.startswith("parallel"):
            together.wait()
        with lock:
            threads.add(threading.current_thread().name)
            done.append(key)
        return Result()

    controller = make_controller(FunctionReconciler(reconcile), workers=3)
    keys = [ObjectKey("ns", f"parallel-{i}") for i in range(3)]
    keys += [ObjectKey("ns", f"m{i}") for i in range(20)]

    with running(controller):
        for key in keys:
            controller.enqueue(key)
        wait_for(lambda: len(done) == len(keys), "every key to be reconciled")

    assert sorted(done) == sorted(keys)
    assert threads == {"test-worker-0", "test-worker-1", "test-worker-2"}


def test_the_same_key_is_never_reconciled_by_two_workers_at_once(
    make_controller: Callable[..., Controller],
) -> None:
    release = threading.Event()
    first_started = threading.Event()
    other_done = threading.Event()
    lock = threading.Lock()
    in_flight: set[ObjectKey] = set()
    overlaps: list[ObjectKey] = []
    calls: list[ObjectKey] = []
    other = ObjectKey("ns", "other")

    def reconcile(key: ObjectKey) -> Result:
        with lock:
            if key in in_flight:
                overlaps.append(key)
            in_flight.add(key)
            calls.append(key)
            first_call = calls.count(key) == 1
        try:
            if key == other:
                other_done.set()
            elif first_call:
                first_started.set()
                assert release.wait(BOUND)
            return Result()
        finally:
            with lock:
                in_flight.discard(key)

    controller = make_controller(FunctionReconciler(reconcile), workers=4)

    with running(controller):
        controller.enqueue(KEY)
        assert first_started.wait(BOUND)
        controller.enqueue(KEY)  # changed again while a worker holds it
        controller.enqueue(other)
        assert other_done.wait(BOUND)  # idle workers are polling the queue
        assert calls.count(KEY) == 1
        release.set()
        wait_for(lambda: calls.count(KEY) == 2, "the second reconcile of the key")

    assert overlaps == []


def test_run_waits_for_the_caches_before_starting_workers(
    make_controller: Callable[..., Controller],
) -> None:
    synced = threading.Event()
    polls = threading.Semaphore(0)
    reconciler = ScriptedReconciler()

    def has_synced() -> bool:
        polls.release()
        return synced.is_set()

    controller = make_controller(reconciler)
    controller.enqueue(KEY)

    with running(controller, synced=[has_synced]):
        assert polls.acquire(timeout=BOUND)
        assert polls.acquire(timeout=BOUND)  # asked twice: run is waiting, no worker yet
        assert reconciler.calls == []
        synced.set()
        wait_for(lambda: reconciler.calls == [KEY], "the reconcile after sync")


def test_run_stopped_before_the_caches_sync_starts_no_worker(
    make_controller: Callable[..., Controller], queue: RateLimitingQueue[ObjectKey]
) -> None:
    reconciler = ScriptedReconciler()
    controller = make_controller(reconciler)
    controller.enqueue(KEY)
    stop = threading.Event()
    stop.set()

    controller.run(stop, synced=[lambda: False])

    assert reconciler.calls == []
    assert queue.shutting_down


def test_run_does_not_wait_forever_for_a_stuck_worker(
    make_controller: Callable[..., Controller],
) -> None:
    release = threading.Event()
    started = threading.Event()

    def reconcile(key: ObjectKey) -> Result:
        started.set()
        release.wait(BOUND)
        return Result()

    controller = make_controller(FunctionReconciler(reconcile), shutdown_timeout=0.05)
    stop = threading.Event()
    runner = threading.Thread(target=controller.run, args=(stop,), daemon=True)
    runner.start()
    controller.enqueue(KEY)
    assert started.wait(BOUND)

    stop.set()
    runner.join(BOUND)

    try:
        assert not runner.is_alive()
    finally:
        release.set()


# --- informer handlers ----------------------------------------------------------------------------


class RecordingEnqueuer:
    def __init__(self) -> None:
        self.keys: list[ObjectKey] = []

    def enqueue(self, key: ObjectKey) -> None:
        self.keys.append(key)


def obj(
    name: str,
    rv: str = "1",
    *,
    namespace: str = "shoot--a",
    owner: str | None = None,
    labels: dict[str, str] | None = None,
) -> GenericObject:
    metadata: dict[str, Any] = {"name": name, "namespace": namespace, "resourceVersion": rv}
    if owner is not None:
        metadata["ownerReferences"] = [
            {
                "apiVersion": "v1",
                "kind": "MachineSet",
                "name": owner,
                "uid": "u",
                "controller": True,
            }
        ]
    if labels:
        metadata["labels"] = labels
    return GenericObject.from_dict({"metadata": metadata})


Handler = ResourceEventHandler[GenericObject]


def owner_key(o: GenericObject) -> ObjectKey | None:
    ref = o.metadata.controller_ref
    return None if ref is None else ObjectKey(o.metadata.namespace, ref.name)


def test_the_handler_enqueues_the_objects_own_key_on_add_update_and_delete() -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(enqueuer)

    handler.on_add(obj("a", "1"))
    handler.on_update(obj("a", "1"), obj("a", "2"))
    handler.on_delete(obj("a", "3"))

    assert enqueuer.keys == [ObjectKey("shoot--a", "a")] * 3


@pytest.mark.parametrize(
    ("resync", "expected"),
    [
        pytest.param(False, [], id="resync-skipped"),
        pytest.param(True, [ObjectKey("shoot--a", "a")], id="resync-wanted"),
    ],
)
def test_updates_with_an_unchanged_resource_version_are_resyncs(
    resync: bool, expected: list[ObjectKey]
) -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(enqueuer, resync=resync)

    handler.on_update(obj("a", "7"), obj("a", "7"))

    assert enqueuer.keys == expected


@pytest.mark.parametrize(
    "tombstone",
    [
        pytest.param(
            DeletedFinalStateUnknown(ObjectKey("shoot--a", "a"), obj("a")), id="with-last-state"
        ),
        pytest.param(
            DeletedFinalStateUnknown(ObjectKey("shoot--a", "a"), None), id="state-unknown"
        ),
    ],
)
def test_a_tombstone_is_unwrapped_to_the_deleted_objects_key(
    tombstone: DeletedFinalStateUnknown[GenericObject],
) -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(enqueuer)

    handler.on_delete(tombstone)

    assert enqueuer.keys == [ObjectKey("shoot--a", "a")]


def test_a_key_function_maps_an_object_to_its_owner_even_from_a_tombstone() -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(enqueuer, key_fn=owner_key)

    handler.on_add(obj("m1", owner="set-a"))
    handler.on_add(obj("orphan"))
    handler.on_delete(
        DeletedFinalStateUnknown(ObjectKey("shoot--a", "m1"), obj("m1", owner="set-b"))
    )
    handler.on_delete(DeletedFinalStateUnknown(ObjectKey("shoot--a", "m2"), None))

    assert enqueuer.keys == [ObjectKey("shoot--a", "set-a"), ObjectKey("shoot--a", "set-b")]


def test_an_update_that_changes_the_owner_enqueues_the_old_and_the_new_owner() -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(enqueuer, key_fn=owner_key)

    handler.on_update(obj("m1", "1", owner="set-a"), obj("m1", "2", owner="set-b"))
    handler.on_update(obj("m1", "2", owner="set-b"), obj("m1", "3", owner="set-b"))

    assert enqueuer.keys == [
        ObjectKey("shoot--a", "set-b"),
        ObjectKey("shoot--a", "set-a"),
        ObjectKey("shoot--a", "set-b"),
    ]


def test_a_key_function_may_map_to_several_keys_which_are_enqueued_once_each() -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(
        enqueuer,
        key_fn=lambda o: [ObjectKey("ns", "x"), ObjectKey("ns", "y"), ObjectKey("ns", "x")],
    )

    handler.on_add(obj("a"))

    assert enqueuer.keys == [ObjectKey("ns", "x"), ObjectKey("ns", "y")]


def test_filtered_out_objects_enqueue_nothing() -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(
        enqueuer, filter=lambda o: o.metadata.labels.get("managed") == "true"
    )

    handler.on_add(obj("ignored"))
    handler.on_add(obj("kept", labels={"managed": "true"}))
    handler.on_update(obj("ignored", "1"), obj("ignored", "2"))
    handler.on_delete(obj("ignored"))

    assert enqueuer.keys == [ObjectKey("shoot--a", "kept")]


def test_an_update_filter_sees_old_and_new() -> None:
    enqueuer = RecordingEnqueuer()
    handler: Handler = enqueue_handler(
        enqueuer,
        update_filter=lambda old, new: old.metadata.labels != new.metadata.labels,
    )

    handler.on_update(obj("a", "1"), obj("a", "2"))
    handler.on_update(obj("b", "1"), obj("b", "2", labels={"x": "y"}))

    assert enqueuer.keys == [ObjectKey("shoot--a", "b")]


def test_a_controller_is_an_enqueuer(
    make_controller: Callable[..., Controller], queue: RateLimitingQueue[ObjectKey]
) -> None:
    controller = make_controller(ScriptedReconciler())
    handler: Handler = enqueue_handler(controller)

    handler.on_add(obj("a"))

    assert queue.get() == (ObjectKey("shoot--a", "a"), False)
    queue.done(ObjectKey("shoot--a", "a"))
