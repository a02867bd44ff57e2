"""Queue: ordering, collapsing, the processing set, and both kinds of shutdown."""

from __future__ import annotations

import collections
import queue as stdlib_queue
import threading
from collections.abc import Callable

import pytest

from mcm.workqueue import Queue

BOUND = 5.0

MakeQueue = Callable[..., Queue[str]]
StartGet = Callable[[Queue[str]], stdlib_queue.Queue[tuple[object, bool]]]


def add_all(q: Queue[str], keys: list[str]) -> None:
    for key in keys:
        q.add(key)


def in_thread(target: Callable[[], object]) -> threading.Event:
    """Run *target* in a daemon thread; the returned event is set once it has returned."""
    finished = threading.Event()

    def run() -> None:
        target()
        finished.set()

    threading.Thread(target=run, daemon=True).start()
    return finished


def test_keys_are_handed_out_in_the_order_they_were_added(make_queue: MakeQueue) -> None:
    q = make_queue()
    for key in ("a", "b", "c"):
        q.add(key)

    handed_out = [q.get() for _ in range(3)]

    assert handed_out == [("a", False), ("b", False), ("c", False)]


def test_a_key_added_many_times_before_a_worker_takes_it_is_handed_out_once(
    make_queue: MakeQueue,
) -> None:
    q = make_queue()
    for key in ("a", "b", "a", "a", "b"):
        q.add(key)

    assert len(q) == 2
    first, second = q.get(), q.get()

    assert (first, second) == (("a", False), ("b", False))
    assert len(q) == 0


def test_a_key_added_while_being_processed_is_held_back_until_done(make_queue: MakeQueue) -> None:
    q = make_queue()
    q.add("a")
    q.get()

    q.add("a")
    q.add("a")

    assert len(q) == 0
    q.done("a")
    assert len(q) == 1


def test_a_key_added_while_being_processed_is_handed_out_exactly_once_more(
    make_queue: MakeQueue,
) -> None:
    q = make_queue()
    q.add("a")
    q.get()
    q.add("a")
    q.add("a")
    q.done("a")

    again = q.get()
    q.done("a")

    assert again == ("a", False)
    assert len(q) == 0


def test_done_does_not_queue_a_key_that_was_not_added_again(make_queue: MakeQueue) -> None:
    q = make_queue()
    q.add("a")
    q.get()

    q.done("a")

    assert len(q) == 0


def test_a_key_can_be_added_again_once_done(make_queue: MakeQueue) -> None:
    q = make_queue()
    q.add("a")
    q.get()
    q.done("a")

    q.add("a")

    assert q.get() == ("a", False)


def test_get_blocks_until_a_key_is_added(make_queue: MakeQueue, start_get: StartGet) -> None:
    q = make_queue()
    answer = start_get(q)

    q.add("a")

    assert answer.get(timeout=BOUND) == ("a", False)


def test_adds_after_shut_down_are_ignored(make_queue: MakeQueue) -> None:
    q = make_queue()
    q.shut_down()

    q.add("a")

    assert len(q) == 0
    assert q.get() == (None, True)


def test_after_shut_down_workers_drain_queued_keys_then_get_reports_shutdown(
    make_queue: MakeQueue,
) -> None:
    q = make_queue()
    q.add("a")
    q.add("b")

    q.shut_down()

    assert q.shutting_down
    assert [q.get(), q.get()] == [("a", False), ("b", False)]
    assert q.get() == (None, True)
    assert q.get() == (None, True)


def test_shut_down_wakes_every_worker_blocked_in_get(
    make_queue: MakeQueue, start_get: StartGet
) -> None:
    q = make_queue()
    answers = [start_get(q) for _ in range(3)]

    q.shut_down()

    assert [answer.get(timeout=BOUND) for answer in answers] == [(None, True)] * 3


def test_shutting_down_is_false_until_shut_down(make_queue: MakeQueue) -> None:
    q = make_queue()

    assert not q.shutting_down
    q.shut_down()
    assert q.shutting_down


def test_shut_down_with_drain_returns_at_once_when_nothing_is_being_processed(
    make_queue: MakeQueue,
) -> None:
    q = make_queue()
    q.add("queued")

    q.shut_down_with_drain()

    assert q.shutting_down
    assert q.get() == ("queued", False)


@pytest.mark.timeout(10)
def test_shut_down_with_drain_blocks_until_every_key_in_flight_is_done(
    make_queue: MakeQueue,
) -> None:
    q = make_queue()
    q.add("a")
    q.add("b")
    q.get()
    q.get()

    drained = in_thread(q.shut_down_with_drain)
    q.done("a")

    assert not drained.wait(0.05)  # one key is still in flight
    assert q.get() == (None, True)  # meanwhile workers are told to stop
    q.done("b")
    assert drained.wait(BOUND)


@pytest.mark.timeout(10)
def test_shut_down_releases_a_shut_down_with_drain_that_is_still_waiting(
    make_queue: MakeQueue,
) -> None:
    q = make_queue()
    q.add("stuck")
    q.get()
    drained = in_thread(q.shut_down_with_drain)
    assert not drained.wait(0.05)

    q.shut_down()

    assert drained.wait(BOUND)


@pytest.mark.parametrize(
    "shut_down",
    [
        pytest.param(Queue.shut_down, id="shut_down"),
        pytest.param(Queue.shut_down_with_drain, id="shut_down_with_drain"),
    ],
)
@pytest.mark.timeout(10)
def test_a_key_re_added_before_shutdown_is_still_handed_out_after_done(
    make_queue: MakeQueue, shut_down: Callable[[Queue[str]], None]
) -> None:
    q = make_queue()
    q.add("a")
    q.get()
    q.add("a")  # dirty while processing
    finished = in_thread(lambda: shut_down(q))
    # shut_down returns at once; shut_down_with_drain waits for "a"; either way new adds stop.
    while not q.shutting_down:
        finished.wait(0.001)

    q.add("b")
    q.done("a")

    assert q.get() == ("a", False)
    q.done("a")
    assert q.get() == (None, True)
    assert finished.wait(BOUND)


@pytest.mark.timeout(20)
def test_keys_added_concurrently_collapse_to_one_entry_per_key(make_queue: MakeQueue) -> None:
    q = make_queue()
    # 8 producers x 1000 keys; neighbours overlap by half, so most keys are added twice.
    batches = [[f"k{n}" for n in range(t * 500, t * 500 + 1000)] for t in range(8)]
    expected = {key for batch in batches for key in batch}
    producers = [threading.Thread(target=add_all, args=(q, b)) for b in batches]

    for p in producers:
        p.start()
    for p in producers:
        p.join(BOUND)
    q.shut_down()
    handed_out = []
    while (answer := q.get()) != (None, True):
        handed_out.append(answer[0])

    assert len(handed_out) == len(expected) == 4500
    assert set(handed_out) == expected


@pytest.mark.timeout(30)
def test_concurrent_producers_and_workers_lose_nothing_and_never_share_a_key(
    make_queue: MakeQueue,
) -> None:
    q = make_queue()
    batches = [[f"k{n}" for n in range(t * 500, t * 500 + 1000)] for t in range(8)]
    expected = {key for batch in batches for key in batch}
    lock = threading.Lock()
    in_flight: set[str] = set()
    shared: list[str] = []
    handed_out: collections.Counter[str] = collections.Counter()
    adds: collections.Counter[str] = collections.Counter(k for b in batches for k in b)

    def work() -> None:
        while not (got := q.get())[1]:
            key = got[0]
            with lock:
                if key in in_flight:
                    shared.append(key)
                in_flight.add(key)
                handed_out[key] += 1
            with lock:
                in_flight.discard(key)
            q.done(key)

    workers = [threading.Thread(target=work) for _ in range(4)]
    producers = [threading.Thread(target=add_all, args=(q, b)) for b in batches]
    for thread in workers + producers:
        thread.start()
    for p in producers:
        p.join(BOUND)
    q.shut_down_with_drain()
    for w in workers:
        w.join(BOUND)

    assert not any(w.is_alive() for w in workers)
    assert shared == []
    assert set(handed_out) == expected
    assert all(1 <= handed_out[key] <= adds[key] for key in expected)
