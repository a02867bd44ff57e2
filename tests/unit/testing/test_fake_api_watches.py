import queue
import threading
from collections.abc import Iterable
from typing import Any

import pytest

from mcm.clock import FakeClock
from mcm.errors import BadRequestError, GoneError, ServerError, TransportError
from mcm.kube.protocol import EventType, WatchEvent
from mcm.kube.resources import MACHINES, NODES, PODS
from mcm.testing import FakeApiServer, FakeWatchStream

pytestmark = pytest.mark.timeout(10)


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> FakeApiServer:
    return FakeApiServer(clock=clock)


def machine(name: str, namespace: str = "ns", **labels: str) -> dict[str, Any]:
    return {"metadata": {"name": name, "namespace": namespace, "labels": labels}, "spec": {}}


def take(stream: Iterable[WatchEvent], count: int) -> list[WatchEvent]:
    """The next *count* events (they must already be queued, or the test times out)."""
    events = iter(stream)
    return [next(events) for _ in range(count)]


def summary(events: Iterable[WatchEvent]) -> list[tuple[str, str]]:
    return [(event.type.value, event.object["metadata"].get("name", "")) for event in events]


def read_in_thread(stream: FakeWatchStream) -> "queue.Queue[tuple[str, Any]]":
    """Iterate *stream* on another thread; the queue gets ("ended", events) or ("raised", error)."""
    outcome: queue.Queue[tuple[str, Any]] = queue.Queue()

    def read() -> None:
        events: list[WatchEvent] = []
        try:
            events.extend(stream)
        except Exception as error:
            outcome.put(("raised", error))
        else:
            outcome.put(("ended", events))

    threading.Thread(target=read, daemon=True).start()
    return outcome


def test_a_watch_without_resource_version_starts_with_the_current_objects(
    api: FakeApiServer,
) -> None:
    api.create(MACHINES, machine("b"))
    api.create(MACHINES, machine("a"))

    stream = api.watch(MACHINES)
    api.create(MACHINES, machine("c"))

    assert summary(take(stream, 3)) == [("ADDED", "a"), ("ADDED", "b"), ("ADDED", "c")]
    assert stream.pending == 0


def test_a_watch_delivers_every_change_in_order_with_the_full_object(api: FakeApiServer) -> None:
    stream = api.watch(MACHINES, resource_version=api.resource_version)

    api.create(MACHINES, machine("a"))
    api.patch(MACHINES, "a", {"spec": {"class": "big"}}, namespace="ns")
    api.delete(MACHINES, "a", namespace="ns")

    events = take(stream, 3)
    assert summary(events) == [("ADDED", "a"), ("MODIFIED", "a"), ("DELETED", "a")]
    assert [e.object["metadata"]["resourceVersion"] for e in events] == ["1", "2", "3"]
    assert events[1].object["spec"] == {"class": "big"}
    assert events[2].object["spec"] == {"class": "big"}


def test_a_watch_from_an_old_resource_version_replays_the_later_events(api: FakeApiServer) -> None:
    api.create(MACHINES, machine("a"))
    since = api.resource_version
    api.create(MACHINES, machine("b"))
    api.create(NODES, {"metadata": {"name": "n"}})
    api.delete(MACHINES, "a", namespace="ns")

    stream = api.watch(MACHINES, resource_version=since)
    api.create(MACHINES, machine("c"))

    assert summary(take(stream, 3)) == [("ADDED", "b"), ("DELETED", "a"), ("ADDED", "c")]


def test_a_watch_from_before_the_retained_history_is_gone() -> None:
    api = FakeApiServer(history_limit=2)
    for name in "abcd":
        api.create(MACHINES, machine(name))

    too_old = api.watch(MACHINES, resource_version="1")
    oldest = api.watch(MACHINES, resource_version="2")

    with pytest.raises(GoneError) as caught:
        take(too_old, 1)
    assert caught.value.status == 410
    assert caught.value.reason == "Expired"
    assert summary(take(oldest, 2)) == [("ADDED", "c"), ("ADDED", "d")]


def test_a_watch_after_compaction_from_an_older_version_is_gone(api: FakeApiServer) -> None:
    api.create(MACHINES, machine("a"))
    api.create(MACHINES, machine("b"))

    api.compact()

    with pytest.raises(GoneError):
        take(api.watch(MACHINES, resource_version="1"), 1)
    current = api.watch(MACHINES, resource_version=api.resource_version)
    api.create(MACHINES, machine("c"))
    assert summary(take(current, 1)) == [("ADDED", "c")]


def test_a_watch_of_a_resource_never_written_can_start_from_any_version(api: FakeApiServer) -> None:
    api.create(MACHINES, machine("a"))

    stream = api.watch(PODS, resource_version="1")
    api.create(PODS, {"metadata": {"name": "p", "namespace": "ns"}})

    assert summary(take(stream, 1)) == [("ADDED", "p")]


def test_a_watch_from_a_future_version_sees_only_later_events(api: FakeApiServer) -> None:
    stream = api.watch(MACHINES, resource_version="2")

    api.create(MACHINES, machine("a"))
    api.create(MACHINES, machine("b"))
    api.create(MACHINES, machine("c"))

    assert summary(take(stream, 1)) == [("ADDED", "c")]
    assert stream.pending == 0


def test_expired_watches_raise_gone_after_the_events_already_sent(api: FakeApiServer) -> None:
    stream = api.watch(MACHINES)
    api.create(MACHINES, machine("a"))

    assert api.expire_watches(MACHINES) == 1

    events = iter(stream)
    assert summary([next(events)]) == [("ADDED", "a")]
    with pytest.raises(GoneError):
        next(events)
    assert list(stream) == []
    assert api.watcher_count() == 0


def test_dropped_watches_lose_pending_events_and_raise_transport_error(api: FakeApiServer) -> None:
    stream = api.watch(MACHINES)
    api.create(MACHINES, machine("a"))

    assert api.drop_watches() == 1
    api.create(MACHINES, machine("b"))

    with pytest.raises(TransportError):
        take(stream, 1)
    assert api.watcher_count(MACHINES) == 0


def test_a_silenced_watch_ends_only_by_its_read_timeout(
    api: FakeApiServer, clock: FakeClock
) -> None:
    stream = api.watch(MACHINES, timeout_seconds=5, read_timeout=10)
    outcome = read_in_thread(stream)
    assert clock.wait_for_waiters(1)

    api.silence_watches(MACHINES)
    api.create(MACHINES, machine("lost"))
    clock.step(6)
    assert clock.wait_for_waiters(1)
    clock.step(5)

    kind, result = outcome.get(timeout=5)
    assert kind == "raised"
    assert isinstance(result, TransportError)
    assert api.watcher_count() == 0


def test_timeout_seconds_ends_the_stream_normally(api: FakeApiServer, clock: FakeClock) -> None:
    stream = api.watch(MACHINES, timeout_seconds=30, read_timeout=60)
    outcome = read_in_thread(stream)
    api.create(MACHINES, machine("a"))
    assert clock.wait_for_waiters(1)

    clock.step(30)

    kind, result = outcome.get(timeout=5)
    assert kind == "ended"
    assert summary(result) == [("ADDED", "a")]
    assert api.watcher_count() == 0


def test_read_timeout_without_events_raises_transport_error(
    api: FakeApiServer, clock: FakeClock
) -> None:
    stream = api.watch(MACHINES, read_timeout=5)
    outcome = read_in_thread(stream)
    assert clock.wait_for_waiters(1)

    clock.step(5)

    kind, result = outcome.get(timeout=5)
    assert kind == "raised"
    assert isinstance(result, TransportError)


def test_an_event_restarts_the_read_timeout(api: FakeApiServer, clock: FakeClock) -> None:
    stream = api.watch(MACHINES, read_timeout=5)
    events = iter(stream)
    clock.step(4)
    api.create(MACHINES, machine("a"))

    first = next(events)
    clock.step(4)
    api.create(MACHINES, machine("b"))
    second = next(events)

    assert summary([first, second]) == [("ADDED", "a"), ("ADDED", "b")]


def test_close_from_another_thread_ends_iteration_promptly(api: FakeApiServer) -> None:
    stream = api.watch(MACHINES)
    outcome = read_in_thread(stream)
    assert api.wait_for_watchers(MACHINES, 1)

    stream.close()

    kind, result = outcome.get(timeout=5)
    assert (kind, result) == ("ended", [])
    assert api.watcher_count(MACHINES) == 0


@pytest.mark.parametrize(
    ("kwargs", "names"),
    [
        pytest.param({"namespace": "ns1"}, ["a", "b"], id="namespace"),
        pytest.param({"label_selector": "role=worker"}, ["a", "c"], id="label-selector"),
        pytest.param({"field_selector": "metadata.namespace!=ns1"}, ["c"], id="field-selector"),
    ],
)
def test_a_watch_sees_only_the_objects_it_selects(
    api: FakeApiServer, kwargs: dict[str, Any], names: list[str]
) -> None:
    stream = api.watch(MACHINES, resource_version="0", **kwargs)

    api.create(MACHINES, machine("a", "ns1", role="worker"))
    api.create(MACHINES, machine("b", "ns1", role="master"))
    api.create(MACHINES, machine("c", "ns2", role="worker"))

    assert [name for _, name in summary(take(stream, len(names)))] == names
    assert stream.pending == 0


def test_an_object_leaving_or_entering_a_selection_is_deleted_or_added_for_that_watcher(
    api: FakeApiServer,
) -> None:
    api.create(MACHINES, machine("a", role="worker"))
    stream = api.watch(
        MACHINES, label_selector="role=worker", resource_version=api.resource_version
    )

    api.patch(MACHINES, "a", {"metadata": {"labels": {"role": "master"}}}, namespace="ns")
    api.patch(MACHINES, "a", {"spec": {"x": 1}}, namespace="ns")
    api.patch(MACHINES, "a", {"metadata": {"labels": {"role": "worker"}}}, namespace="ns")

    events = take(stream, 2)
    assert summary(events) == [("DELETED", "a"), ("ADDED", "a")]
    assert events[0].object["metadata"]["labels"] == {
        "role": "worker"
    }  # the last state it matched in
    assert events[0].object["metadata"]["resourceVersion"] == "2"
    assert events[1].object["metadata"]["resourceVersion"] == "4"
    assert stream.pending == 0


def test_bookmarks_are_sent_on_request_to_watches_that_allow_them(api: FakeApiServer) -> None:
    api.create(MACHINES, machine("a"))
    allowing = api.watch(MACHINES, resource_version=api.resource_version)
    refusing = api.watch(
        MACHINES, resource_version=api.resource_version, allow_watch_bookmarks=False
    )

    assert api.send_bookmark(MACHINES) == 1

    (bookmark,) = take(allowing, 1)
    assert bookmark.type is EventType.BOOKMARK
    assert bookmark.object == {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": {"resourceVersion": "1"},
    }
    assert refusing.pending == 0


def test_drop_watch_writes_change_state_without_telling_open_watches(api: FakeApiServer) -> None:
    api.create(NODES, {"metadata": {"name": "n"}})
    since = api.resource_version
    stream = api.watch(MACHINES, resource_version=since)

    created = api.create_drop_watch(MACHINES, machine("a"))
    api.patch_drop_watch(MACHINES, "a", {"spec": {"x": 1}}, namespace="ns")
    current = api.get(MACHINES, "a", namespace="ns")
    api.update_drop_watch(MACHINES, {**current, "spec": {"x": 2}})
    api.delete_drop_watch(MACHINES, "a", namespace="ns")
    api.create(MACHINES, machine("b"))

    assert created["metadata"]["resourceVersion"] == "2"
    assert summary(take(stream, 1)) == [("ADDED", "b")]
    assert stream.pending == 0
    assert [a.verb for a in api.actions_for(reads=False)] == ["create", "create"]
    replay = api.watch(MACHINES, resource_version=since)
    assert [kind for kind, _ in summary(take(replay, 5))] == [
        "ADDED",
        "MODIFIED",
        "MODIFIED",
        "DELETED",
        "ADDED",
    ]


def test_a_deleted_event_carries_the_last_state_and_the_deletions_resource_version(
    api: FakeApiServer,
) -> None:
    api.create(MACHINES, machine("a"))
    api.patch(MACHINES, "a", {"spec": {"x": 1}}, namespace="ns")
    stream = api.watch(MACHINES, resource_version=api.resource_version)

    api.delete(MACHINES, "a", namespace="ns")

    (deleted,) = take(stream, 1)
    assert deleted.type is EventType.DELETED
    assert deleted.object["spec"] == {"x": 1}
    assert deleted.object["metadata"]["resourceVersion"] == "3"


def test_watchers_get_their_own_copies(api: FakeApiServer) -> None:
    first = api.watch(MACHINES)
    second = api.watch(MACHINES)
    api.create(MACHINES, machine("a"))

    (one,) = take(first, 1)
    one.object["spec"]["mutated"] = True
    (two,) = take(second, 1)

    assert two.object["spec"] == {}


@pytest.mark.timeout(20)
def test_concurrent_writers_are_seen_in_resource_version_order_by_every_watcher(
    api: FakeApiServer,
) -> None:
    watches = [api.watch(MACHINES, resource_version="0") for _ in range(3)]

    def write(prefix: str) -> None:
        for index in range(25):
            name = f"{prefix}-{index}"
            api.create(MACHINES, machine(name))
            api.patch(MACHINES, name, {"spec": {"n": index}}, namespace="ns")

    writers = [threading.Thread(target=write, args=(f"w{i}",)) for i in range(4)]
    for writer in writers:
        writer.start()
    for writer in writers:
        writer.join(timeout=10)

    seen = [take(stream, 200) for stream in watches]
    versions = [[int(e.object["metadata"]["resourceVersion"]) for e in events] for events in seen]
    assert versions[0] == list(range(1, 201))
    assert versions[1] == versions[0]
    assert versions[2] == versions[0]
    for events in seen:
        first_seen: dict[str, str] = {}
        for event in events:
            first_seen.setdefault(event.object["metadata"]["name"], event.type.value)
        assert set(first_seen.values()) == {"ADDED"}


def test_wait_for_watchers_returns_once_another_thread_is_watching(api: FakeApiServer) -> None:
    opened: queue.Queue[FakeWatchStream] = queue.Queue()
    threading.Thread(target=lambda: opened.put(api.watch(PODS)), daemon=True).start()

    assert api.wait_for_watchers(PODS, 1)
    assert not api.wait_for_watchers(PODS, 2, timeout=0.05)
    opened.get(timeout=5).close()


def test_fail_next_on_watch_raises_at_the_call(api: FakeApiServer) -> None:
    api.fail_next("watch", MACHINES, error=ServerError("etcd is down", status=500))

    with pytest.raises(ServerError):
        api.watch(MACHINES)

    assert api.watcher_count() == 0
    api.watch(MACHINES).close()


def test_a_watch_with_a_malformed_selector_is_a_bad_request(api: FakeApiServer) -> None:
    with pytest.raises(BadRequestError):
        api.watch(MACHINES, label_selector="a in (b")
