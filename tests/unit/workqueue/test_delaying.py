"""DelayingQueue: add_after on a fake clock, earliest-time-wins, and shutdown."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from mcm.clock import FakeClock
from mcm.workqueue import DelayingQueue, Queue

pytestmark = pytest.mark.timeout(20)

MakeDelaying = Callable[..., DelayingQueue[str]]
WaitUntilParked = Callable[..., None]
GetWithin = Callable[..., tuple[object, bool]]


def test_a_delayed_key_is_added_once_its_delay_has_passed(
    make_delaying_queue: MakeDelaying,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    get_within: GetWithin,
) -> None:
    q = make_delaying_queue()

    q.add_after("a", 1.0)
    wait_until_parked(q)
    clock.step(0.5)

    assert len(q) == 0
    wait_until_parked(q)
    clock.step(0.5)
    assert get_within(q) == ("a", False)


@pytest.mark.parametrize(
    "delay",
    [pytest.param(0.0, id="zero"), pytest.param(-1.0, id="negative")],
)
def test_a_key_without_a_positive_delay_is_added_at_once(
    make_delaying_queue: MakeDelaying, delay: float
) -> None:
    q = make_delaying_queue()

    q.add_after("a", delay)

    assert len(q) == 1
    assert q.get() == ("a", False)


@pytest.mark.parametrize(
    ("first", "second"),
    [
        pytest.param(5.0, 1.0, id="sooner-second-call-moves-it-earlier"),
        pytest.param(1.0, 5.0, id="later-second-call-is-ignored"),
    ],
)
def test_the_earliest_ready_time_wins(
    make_delaying_queue: MakeDelaying,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    first: float,
    second: float,
) -> None:
    q = make_delaying_queue()
    q.add_after("a", first)
    q.add_after("a", second)

    wait_until_parked(q)
    clock.step(1.0)
    wait_until_parked(q)  # the thread has added "a" and gone back to sleep
    handed_out = q.get()
    q.done("a")
    wait_until_parked(q)
    clock.step(10.0)
    wait_until_parked(q)

    assert handed_out == ("a", False)
    assert len(q) == 0  # the later time was not kept as a second add


def test_delayed_keys_become_ready_in_order_of_their_ready_times(
    make_delaying_queue: MakeDelaying,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    get_within: GetWithin,
) -> None:
    q = make_delaying_queue()
    q.add_after("c", 3.0)
    q.add_after("a", 1.0)
    q.add_after("b", 2.0)

    wait_until_parked(q)
    clock.step(3.0)

    assert [get_within(q) for _ in range(3)] == [("a", False), ("b", False), ("c", False)]


def test_each_step_releases_only_the_keys_that_are_due(
    make_delaying_queue: MakeDelaying,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    get_within: GetWithin,
) -> None:
    q = make_delaying_queue()
    q.add_after("a", 1.0)
    q.add_after("b", 2.0)

    wait_until_parked(q)
    clock.step(1.0)
    first = get_within(q)
    wait_until_parked(q)

    assert first == ("a", False)
    assert len(q) == 0
    clock.step(1.0)
    assert get_within(q) == ("b", False)


def test_a_key_due_later_than_the_heartbeat_still_arrives_on_time(
    make_delaying_queue: MakeDelaying,
    clock: FakeClock,
    wait_until_parked: WaitUntilParked,
    get_within: GetWithin,
) -> None:
    q = make_delaying_queue()
    q.add_after("a", 25.0)

    for _ in range(2):
        wait_until_parked(q)
        clock.step(10.0)
    wait_until_parked(q)

    assert len(q) == 0
    clock.step(5.0)
    assert get_within(q) == ("a", False)


def test_a_delayed_key_that_is_already_queued_collapses_into_it(
    make_delaying_queue: MakeDelaying, clock: FakeClock, wait_until_parked: WaitUntilParked
) -> None:
    q = make_delaying_queue()
    q.add("a")
    q.add_after("a", 1.0)

    wait_until_parked(q)
    clock.step(1.0)
    wait_until_parked(q)

    assert len(q) == 1


def test_add_after_is_ignored_once_shutting_down(make_delaying_queue: MakeDelaying) -> None:
    q = make_delaying_queue()
    q.shut_down()

    q.add_after("now", 0.0)
    q.add_after("later", 1.0)

    assert len(q) == 0
    assert q.get() == (None, True)


def test_shut_down_drops_waiting_keys_and_stops_the_delay_thread(
    make_delaying_queue: MakeDelaying, clock: FakeClock
) -> None:
    q = make_delaying_queue()
    q.add("queued")
    q.add_after("waiting", 1.0)

    q.shut_down()
    clock.step(2.0)

    assert not q._thread.is_alive()
    assert q.get() == ("queued", False)
    assert q.get() == (None, True)


def test_shut_down_with_drain_also_stops_the_delay_thread(
    make_delaying_queue: MakeDelaying,
) -> None:
    q = make_delaying_queue()

    q.shut_down_with_drain()

    assert q.shutting_down
    assert not q._thread.is_alive()


def test_delayed_keys_go_into_an_injected_queue(
    clock: FakeClock, wait_until_parked: WaitUntilParked, get_within: GetWithin
) -> None:
    inner: Queue[str] = Queue()
    q: DelayingQueue[str] = DelayingQueue(clock=clock, queue=inner)
    try:
        q.add_after("a", 1.0)
        wait_until_parked(q)
        clock.step(1.0)

        assert get_within(inner) == ("a", False)
    finally:
        q.shut_down()
    assert inner.shutting_down


def test_add_get_and_done_are_those_of_the_queue_underneath(
    make_delaying_queue: MakeDelaying,
) -> None:
    q = make_delaying_queue()
    q.add("a")
    q.get()
    q.add("a")

    assert len(q) == 0
    q.done("a")
    assert q.get() == ("a", False)
