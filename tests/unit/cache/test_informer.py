"""SharedIndexInformer: handler notifications, resync, relist deletions, slow and late handlers."""

from __future__ import annotations

import threading

import pytest

from mcm.api.meta import GenericObject, ObjectKey
from mcm.cache import (
    NAMESPACE_INDEX,
    Backoff,
    DeletedFinalStateUnknown,
    FuncHandler,
    SharedIndexInformer,
    wait_for_cache_sync,
)
from mcm.errors import GoneError, ServerError
from mcm.kube.resources import Resource
from tests.unit.cache.cache_doubles import (
    WAIT,
    RecordingClock,
    RecordingHandler,
    ScriptedApi,
    raw,
    running,
)

pytestmark = pytest.mark.timeout(20)

THINGS = Resource("example.com", "v1", "things", "Thing")

Informer = SharedIndexInformer[GenericObject]


@pytest.fixture
def informer(api: ScriptedApi, clock: RecordingClock, backoff: Backoff) -> Informer:
    return SharedIndexInformer(api, THINGS, GenericObject.from_dict, clock=clock, backoff=backoff)


def test_handlers_see_the_initial_list_then_every_watched_change(
    api: ScriptedApi, informer: Informer
) -> None:
    api.seed(raw("a", 5), raw("b", 6))
    handler = RecordingHandler()
    informer.add_event_handler(handler)
    assert not informer.has_synced()

    with running(informer.run) as stop:
        assert wait_for_cache_sync(stop, informer.has_synced, timeout=WAIT)
        api.wait_for_watch(1)
        api.emit("ADDED", raw("c", 101))
        api.emit("MODIFIED", raw("a", 102))
        api.emit("DELETED", raw("b", 103))
        events = handler.wait_for(5)

    assert events == [
        ("add", "a", "5"),
        ("add", "b", "6"),
        ("add", "c", "101"),
        ("update", "a", "5", "102"),
        ("delete", "b", "103"),
    ]
    a = informer.lister.get("default", "a")
    assert a is not None
    assert a.metadata.resource_version == "102"
    assert informer.lister.get("default", "b") is None
    assert informer.last_sync_resource_version == "103"


def test_the_cache_hands_out_the_objects_the_handlers_got(
    api: ScriptedApi, informer: Informer
) -> None:
    api.seed(raw("a", 5))
    handler = RecordingHandler()
    informer.add_event_handler(handler)

    with running(informer.run):
        handler.wait_for(1)

    assert informer.get_indexer().get_by_key(ObjectKey("default", "a")) is handler.received[0]


def test_has_synced_waits_for_a_successful_list(
    api: ScriptedApi, clock: RecordingClock, informer: Informer
) -> None:
    api.list_results.append(ServerError("boom", status=500))

    with running(informer.run) as stop:
        api.wait_for_list(1)
        assert clock.wait_for_waiters(1)
        synced_while_failing = informer.has_synced()
        clock.step(0.8)
        synced = wait_for_cache_sync(stop, informer.has_synced, timeout=WAIT)

    assert not synced_while_failing
    assert synced


def test_a_periodic_resync_delivers_updates_with_equal_resource_versions(
    api: ScriptedApi, clock: RecordingClock, backoff: Backoff
) -> None:
    api.seed(raw("a", 5), raw("b", 6))
    informer = SharedIndexInformer(
        api, THINGS, GenericObject.from_dict, resync_period=30.0, clock=clock, backoff=backoff
    )
    handler = RecordingHandler()
    informer.add_event_handler(handler)

    with running(informer.run):
        handler.wait_for(2)
        assert clock.wait_for_waiters(1)  # the resync timer
        assert clock.waits[-1] == 30.0
        clock.step(30.0)
        events = handler.wait_for(4)

    assert events[2:] == [("update", "a", "5", "5"), ("update", "b", "6", "6")]
    old, new = handler.received[2:4]
    assert old is new


def test_a_relist_delivers_changes_and_missed_deletions_but_not_unchanged_objects(
    api: ScriptedApi, clock: RecordingClock, informer: Informer
) -> None:
    api.seed(raw("same", 5), raw("changed", 6), raw("vanished", 7))
    handler = RecordingHandler()
    informer.add_event_handler(handler)

    with running(informer.run):
        stream = api.wait_for_watch(1)
        handler.wait_for(3)
        # While the watch is down, one object changes and one is deleted; the server forgets why.
        api.seed(raw("same", 5), raw("changed", 250))
        stream.fail(GoneError("too old resource version", status=410, reason="Expired"))
        assert clock.wait_for_waiters(1)
        clock.step(0.8)
        api.wait_for_watch(2)
        handler.wait_for(5)

    assert handler.events[3:] == [
        ("update", "changed", "6", "250"),
        ("delete", "DFSU:default/vanished", "7"),
    ]
    tombstone = handler.received[-1]
    assert isinstance(tombstone, DeletedFinalStateUnknown)
    assert tombstone.key == ObjectKey("default", "vanished")
    assert informer.lister.get("default", "vanished") is None


def test_a_slow_handler_does_not_hold_up_another(api: ScriptedApi, informer: Informer) -> None:
    api.seed(raw("a", 1), raw("b", 2), raw("c", 3))
    gate = threading.Event()
    slow, fast = RecordingHandler(gate=gate), RecordingHandler()
    informer.add_event_handler(slow)
    informer.add_event_handler(fast)

    with running(informer.run):
        slow.wait_for(1)  # and now stuck in its first notification
        fast_events = fast.wait_for(3)
        slow_events_while_blocked = list(slow.events)
        gate.set()
        slow_events = slow.wait_for(3)

    assert fast_events == [("add", "a", "1"), ("add", "b", "2"), ("add", "c", "3")]
    assert slow_events_while_blocked == [("add", "a", "1")]
    assert slow_events == fast_events


def test_a_handler_added_after_start_first_gets_the_cached_objects(
    api: ScriptedApi, informer: Informer
) -> None:
    api.seed(raw("a", 5), raw("b", 6))

    with running(informer.run) as stop:
        assert wait_for_cache_sync(stop, informer.has_synced, timeout=WAIT)
        api.wait_for_watch(1)
        late = RecordingHandler()
        informer.add_event_handler(late)
        late.wait_for(2)
        api.emit("ADDED", raw("c", 101))
        events = late.wait_for(3)

    assert events == [("add", "a", "5"), ("add", "b", "6"), ("add", "c", "101")]


def test_a_failing_handler_keeps_receiving_later_notifications(
    api: ScriptedApi, informer: Informer, caplog: pytest.LogCaptureFixture
) -> None:
    api.seed(raw("a", 1), raw("b", 2))
    seen: list[str] = []
    done = threading.Event()

    def on_add(obj: GenericObject) -> None:
        seen.append(obj.metadata.name)
        if obj.metadata.name == "a":
            raise RuntimeError("handler bug")
        done.set()

    informer.add_event_handler(FuncHandler(on_add=on_add))

    with running(informer.run):
        assert done.wait(WAIT)

    assert seen == ["a", "b"]
    assert "event handler failed" in caplog.text


def test_func_handler_ignores_the_notifications_it_has_no_function_for(
    api: ScriptedApi, informer: Informer, caplog: pytest.LogCaptureFixture
) -> None:
    api.seed(raw("a", 1))
    deleted: list[GenericObject | DeletedFinalStateUnknown[GenericObject]] = []
    got_delete = threading.Event()

    def on_delete(obj: GenericObject | DeletedFinalStateUnknown[GenericObject]) -> None:
        deleted.append(obj)
        got_delete.set()

    informer.add_event_handler(FuncHandler(on_delete=on_delete))

    with running(informer.run):
        api.wait_for_watch(1)
        api.emit("MODIFIED", raw("a", 2))
        api.emit("DELETED", raw("a", 3))
        assert got_delete.wait(WAIT)

    assert deleted == [GenericObject.from_dict(raw("a", 3))]
    assert "event handler failed" not in caplog.text


def test_indexers_can_be_added_and_queried_through_the_informer(
    api: ScriptedApi, informer: Informer
) -> None:
    api.seed(raw("a", 1, labels={"app": "web"}), raw("b", 2, namespace="other"))
    informer.add_indexers({"app": lambda o: [o.metadata.labels.get("app", "")]})

    with running(informer.run) as stop:
        assert wait_for_cache_sync(stop, informer.has_synced, timeout=WAIT)

    indexer = informer.get_indexer()
    assert [o.metadata.name for o in indexer.by_index("app", "web")] == ["a"]
    assert [o.metadata.name for o in informer.lister.by_index(NAMESPACE_INDEX, "other")] == ["b"]


def test_an_informer_runs_once(api: ScriptedApi, informer: Informer) -> None:
    with running(informer.run):
        api.wait_for_watch(1)
        with pytest.raises(RuntimeError, match="already started"):
            informer.run(threading.Event())

    with pytest.raises(RuntimeError, match="stopped"):
        informer.add_event_handler(RecordingHandler())
