"""Reflector: list then watch, resource versions, bookmarks, 410s, timeouts, back-off, bad input."""

from __future__ import annotations

import logging
import random
from collections.abc import Mapping
from typing import Any

import pytest

from mcm.api.meta import GenericObject
from mcm.cache import Backoff, Reflector
from mcm.errors import GoneError, ServerError, TooManyRequestsError, TransportError
from mcm.kube.protocol import ObjectList
from mcm.kube.resources import Resource
from tests.unit.cache.cache_doubles import (
    WAIT,
    RecordingClock,
    RecordingStore,
    ScriptedApi,
    raw,
    running,
)

pytestmark = pytest.mark.timeout(20)

THINGS = Resource("example.com", "v1", "things", "Thing")


def reflector_for(
    api: ScriptedApi,
    clock: RecordingClock,
    backoff: Backoff,
    store: RecordingStore,
    **kwargs: Any,
) -> Reflector[GenericObject]:
    return Reflector(
        api,
        THINGS,
        transform=GenericObject.from_dict,
        store=store,
        clock=clock,
        backoff=backoff,
        **kwargs,
    )


@pytest.fixture
def store() -> RecordingStore:
    return RecordingStore()


def test_the_first_list_asks_the_watch_cache_and_the_watch_starts_at_the_lists_version(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.seed(raw("a", 5), raw("b", 7))
    api.resource_version = 42
    reflector = reflector_for(api, clock, backoff, store, namespace="default")

    with running(reflector.run):
        call = api.wait_for_watch_call(1)

    assert api.list_calls[0]["resource_version"] == "0"
    assert api.list_calls[0]["namespace"] == "default"
    assert store.calls[0] == ("replace", ("a", "b"), "42")
    assert call["resource_version"] == "42"
    assert call["namespace"] == "default"
    assert call["allow_watch_bookmarks"] is True
    assert 300 <= call["timeout_seconds"] <= 600
    assert call["read_timeout"] > call["timeout_seconds"]
    assert reflector.last_sync_resource_version == "42"


def test_watch_events_reach_the_store_in_order_and_the_next_watch_resumes_after_them(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.seed(raw("a", 5), raw("b", 7))
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        stream = api.wait_for_watch(1)
        stream.send("ADDED", raw("c", 101))
        stream.send("MODIFIED", raw("a", 102))
        stream.send("DELETED", raw("b", 103))
        stream.end()  # the server-side timeout
        second = api.wait_for_watch_call(2)

    assert store.calls[1:] == [
        ("add", ("c",), "101"),
        ("update", ("a",), "102"),
        ("delete", ("b",), "103"),
    ]
    assert second["resource_version"] == "103"
    assert len(api.list_calls) == 1
    assert clock.waits == [], "a watch the server ended is reopened without a back-off"


def test_a_bookmark_advances_the_resource_version_without_touching_the_store(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        stream = api.wait_for_watch(1)
        stream.send("BOOKMARK", {"kind": "Thing", "metadata": {"resourceVersion": "150"}})
        stream.end()
        second = api.wait_for_watch_call(2)

    assert second["resource_version"] == "150"
    assert [verb for verb, _, _ in store.calls] == ["replace"]


def test_a_silent_watch_is_dropped_after_the_inactivity_timeout_and_reopened_at_the_last_version(
    clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api = ScriptedApi(clock)  # streams raise TransportError after read_timeout on the clock
    reflector = reflector_for(api, clock, backoff, store, watch_inactivity_timeout=60.0)

    with running(reflector.run):
        stream = api.wait_for_watch(1)
        stream.send("ADDED", raw("c", 101))
        store.wait_for_calls(2)
        assert clock.wait_for_waiters(1)  # the stream, waiting for its next byte
        clock.step(60.0)
        assert stream.timed_out.wait(WAIT)
        assert clock.wait_for_waiters(1)  # now the back-off
        assert clock.waits[-1] == 0.8
        clock.step(0.8)
        second = api.wait_for_watch_call(2)

    assert stream.call["read_timeout"] == 60.0
    assert stream.closed.is_set()
    assert second["resource_version"] == "101"
    assert len(api.list_calls) == 1, "a broken watch is reopened, not relisted"


def test_gone_from_the_watch_relists_with_an_empty_resource_version(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.seed(raw("a", 5))
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        stream = api.wait_for_watch(1)
        api.seed(raw("a", 5), raw("b", 300))
        stream.fail(GoneError("too old resource version", status=410, reason="Expired"))
        assert clock.wait_for_waiters(1)
        assert clock.waits == [0.8]
        clock.step(0.8)
        relist = api.wait_for_list(2)
        rewatch = api.wait_for_watch_call(2)

    assert relist["resource_version"] == ""
    assert store.calls[-1] == ("replace", ("a", "b"), "300")
    assert rewatch["resource_version"] == "300"


def test_gone_from_a_list_is_retried_at_once_with_an_empty_resource_version(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.list_results.append(GoneError("expired", status=410, reason="Expired"))
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        api.wait_for_watch_call(1)

    assert [c["resource_version"] for c in api.list_calls] == ["0", ""]
    assert clock.waits == []


def test_a_relist_after_a_failed_watch_asks_for_the_last_version_seen(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        stream = api.wait_for_watch(1)
        stream.send("ADDED", raw("c", 101))
        stream.fail(ServerError("etcd is unhappy", status=500))
        assert clock.wait_for_waiters(1)
        clock.step(0.8)
        relist = api.wait_for_list(2)

    assert relist["resource_version"] == "101"


@pytest.mark.parametrize(
    "error",
    [
        pytest.param(TransportError("connection refused"), id="connection-refused"),
        pytest.param(TooManyRequestsError("slow down", status=429), id="throttled"),
    ],
)
def test_a_watch_that_cannot_be_opened_is_retried_after_a_back_off_without_a_relist(
    api: ScriptedApi,
    clock: RecordingClock,
    backoff: Backoff,
    store: RecordingStore,
    error: Exception,
) -> None:
    api.watch_errors.append(error)
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        api.wait_for_watch_call(1)
        assert clock.wait_for_waiters(1)
        assert clock.waits == [0.8]
        clock.step(0.8)
        second = api.wait_for_watch_call(2)

    assert second["resource_version"] == "100"
    assert len(api.list_calls) == 1


def test_a_watch_that_ends_at_once_without_events_backs_off_before_the_next(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        api.wait_for_watch(1).end()
        assert clock.wait_for_waiters(1)
        assert clock.waits == [0.8]
        clock.step(0.8)
        api.wait_for_watch_call(2)


def test_list_errors_back_off_exponentially_on_the_clock(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.list_results.extend([ServerError("boom", status=500), TransportError("refused")])
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        api.wait_for_list(1)
        assert clock.wait_for_waiters(1)
        assert clock.waits == [0.8]
        clock.step(0.8)
        api.wait_for_list(2)
        assert clock.wait_for_waiters(1)
        assert clock.waits == [0.8, 1.6]
        clock.step(1.6)
        api.wait_for_watch_call(1)

    assert [c["resource_version"] for c in api.list_calls] == ["0", "0", "0"]
    assert store.calls == [("replace", (), "100")]


def test_malformed_objects_are_skipped_and_logged_without_their_content(
    api: ScriptedApi,
    clock: RecordingClock,
    backoff: Backoff,
    store: RecordingStore,
    caplog: pytest.LogCaptureFixture,
) -> None:
    def strict(obj: Mapping[str, Any]) -> GenericObject:
        spec = obj.get("spec", {})
        if not isinstance(spec, dict):
            raise ValueError(f"spec must be an object, not {spec!r}")  # noqa: TRY004 -- as a parser would
        return GenericObject.from_dict(obj)

    api.seed(raw("listed-bad", 5, spec="s3cr3t-in-list"), raw("listed-good", 6))
    reflector = Reflector(api, THINGS, transform=strict, store=store, clock=clock, backoff=backoff)
    caplog.set_level(logging.WARNING, logger="mcm.cache.reflector")

    with running(reflector.run):
        stream = api.wait_for_watch(1)
        stream.send("ADDED", raw("bad", 101, spec="s3cr3t-token"))
        stream.send("ADDED", {"kind": "Thing", "metadata": {"resourceVersion": "102"}})
        stream.send("ADDED", raw("good", 103))
        stream.end()
        second = api.wait_for_watch_call(2)

    assert store.calls == [
        ("replace", ("listed-good",), "100"),
        ("add", ("good",), "103"),
    ]
    assert second["resource_version"] == "103"
    assert "Thing default/bad" in caplog.text
    assert "Thing default/listed-bad" in caplog.text
    assert "without metadata.name" in caplog.text
    assert "s3cr3t" not in caplog.text


def test_pages_are_followed_with_continue_tokens(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.seed(*(raw(f"o{i}", i) for i in range(5)))
    reflector = reflector_for(api, clock, backoff, store, page_size=2)

    with running(reflector.run):
        api.wait_for_watch_call(1)

    pages = [
        (c["limit"], c.get("continue_token"), c.get("resource_version")) for c in api.list_calls
    ]
    assert pages == [(2, None, "0"), (2, "2", None), (2, "4", None)]
    assert store.calls[0] == ("replace", ("o0", "o1", "o2", "o3", "o4"), "100")


def test_setting_stop_closes_the_open_watch_and_run_returns(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):  # exiting requires run to return promptly
        stream = api.wait_for_watch(1)

    assert stream.closed.is_set()


def test_setting_stop_ends_a_back_off_wait(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.list_results.append(ServerError("boom", status=500))
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        api.wait_for_list(1)
        assert clock.wait_for_waiters(1)

    assert len(api.list_calls) == 1


def test_a_scripted_list_answer_is_used_as_is(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff, store: RecordingStore
) -> None:
    api.list_results.append(ObjectList(items=[raw("x", 3)], resource_version="77"))
    reflector = reflector_for(api, clock, backoff, store)

    with running(reflector.run):
        call = api.wait_for_watch_call(1)

    assert call["resource_version"] == "77"


def test_the_back_off_doubles_up_to_thirty_seconds(clock: RecordingClock) -> None:
    backoff = Backoff(jitter=0.0, clock=clock)

    delays = [backoff.next() for _ in range(8)]

    assert delays == pytest.approx([0.8, 1.6, 3.2, 6.4, 12.8, 25.6, 30.0, 30.0])


def test_the_back_off_starts_over_after_two_quiet_minutes(clock: RecordingClock) -> None:
    backoff = Backoff(jitter=0.0, clock=clock)
    for _ in range(4):
        backoff.next()

    clock.step(119.0)
    still_growing = backoff.next()
    clock.step(121.0)
    reset = backoff.next()

    assert still_growing == pytest.approx(12.8)
    assert reset == pytest.approx(0.8)


def test_the_back_off_jitter_adds_up_to_the_delay_again(clock: RecordingClock) -> None:
    backoff = Backoff(clock=clock, rng=random.Random(7))  # noqa: S311

    delays = [backoff.next() for _ in range(3)]

    for delay, base in zip(delays, [0.8, 1.6, 3.2], strict=True):
        assert base <= delay <= 2 * base
    assert delays != pytest.approx([0.8, 1.6, 3.2])
