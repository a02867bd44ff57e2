"""EventRecorder against the fake API server, and FakeRecorder."""

from __future__ import annotations

import contextlib
import logging
import threading
from collections.abc import Iterator, Mapping
from typing import Any

import pytest

from mcm import events
from mcm.api.core import Node, ObjectReference
from mcm.api.meta import GenericObject, ObjectKey
from mcm.clock import FakeClock
from mcm.errors import ServerError
from mcm.events import EventRecorder, FakeRecorder, RecordedEvent
from mcm.kube.protocol import JSON
from mcm.kube.resources import EVENTS
from mcm.testing import FakeApiServer, Verb

pytestmark = pytest.mark.timeout(20)

BOUND = 5.0
"""Real seconds a test waits for another thread before failing."""

START = "2023-11-14T22:13:20Z"  # FakeClock's default wall time, 1_700_000_000


def machine(rv: str = "7", *, name: str = "machine-1") -> GenericObject:
    return GenericObject.from_dict(
        {
            "apiVersion": "machine.sapcloud.io/v1alpha1",
            "kind": "Machine",
            "metadata": {
                "name": name,
                "namespace": "shoot--a",
                "uid": f"uid-{name}",
                "resourceVersion": rv,
            },
        }
    )


@pytest.fixture
def clock() -> FakeClock:
    return FakeClock()


@pytest.fixture
def api(clock: FakeClock) -> FakeApiServer:
    return FakeApiServer(clock=clock)


@pytest.fixture
def recorder(api: FakeApiServer, clock: FakeClock) -> EventRecorder:
    return EventRecorder(api, component="machine-controller", host="host-1", clock=clock)


@contextlib.contextmanager
def running(recorder: EventRecorder) -> Iterator[threading.Event]:
    """Run the writer in a thread; on exit set stop and require run to return within BOUND."""
    stop = threading.Event()
    thread = threading.Thread(target=recorder.run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(BOUND)
        assert not thread.is_alive(), "EventRecorder.run did not return after stop"


def written(api: FakeApiServer, namespace: str | None = None) -> list[JSON]:
    return api.stored_objects(EVENTS, namespace=namespace)


def writes(api: FakeApiServer) -> list[Verb]:
    return [action.verb for action in api.actions_for(resource=EVENTS, reads=False)]


def test_an_event_is_written_with_the_fields_client_go_writes(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    with running(recorder):
        recorder.event(machine(), events.NORMAL, "Created", "created VM i-123")
        assert recorder.flush(BOUND)

    [event] = written(api)
    assert event["metadata"]["namespace"] == "shoot--a"
    assert event["metadata"]["name"] == f"machine-1.{1_700_000_000 * 10**9:x}"
    assert event["involvedObject"] == {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "name": "machine-1",
        "namespace": "shoot--a",
        "uid": "uid-machine-1",
        "resourceVersion": "7",
    }
    assert {k: event[k] for k in ("type", "reason", "message", "count")} == {
        "type": "Normal",
        "reason": "Created",
        "message": "created VM i-123",
        "count": 1,
    }
    assert event["source"] == {"component": "machine-controller", "host": "host-1"}
    assert event["reportingComponent"] == "machine-controller"
    assert event["reportingInstance"] == "host-1"
    assert event["firstTimestamp"] == event["lastTimestamp"] == START


def test_a_repeated_event_increments_the_count_of_the_first_with_a_patch(
    api: FakeApiServer, recorder: EventRecorder, clock: FakeClock
) -> None:
    with running(recorder):
        recorder.event(machine("7"), events.WARNING, "FailedCreate", "quota exceeded")
        assert recorder.flush(BOUND)
        clock.step(60.0)
        recorder.event(machine("8"), events.WARNING, "FailedCreate", "quota exceeded")
        recorder.event(machine("9"), events.WARNING, "FailedCreate", "quota exceeded")
        assert recorder.flush(BOUND)

    [event] = written(api)
    assert event["count"] == 3
    assert event["firstTimestamp"] == START
    assert event["lastTimestamp"] == "2023-11-14T22:14:20Z"
    assert writes(api) == [Verb.CREATE, Verb.PATCH, Verb.PATCH]


@pytest.mark.parametrize(
    "second",
    [
        pytest.param((machine(), events.WARNING, "FailedCreate", "other"), id="message"),
        pytest.param((machine(), events.WARNING, "FailedDelete", "quota exceeded"), id="reason"),
        pytest.param((machine(), events.NORMAL, "FailedCreate", "quota exceeded"), id="type"),
        pytest.param(
            (machine(name="machine-2"), events.WARNING, "FailedCreate", "quota exceeded"),
            id="object",
        ),
    ],
)
def test_an_event_that_differs_in_anything_but_the_resource_version_is_a_new_event(
    api: FakeApiServer, recorder: EventRecorder, second: tuple[GenericObject, str, str, str]
) -> None:
    with running(recorder):
        recorder.event(machine(), events.WARNING, "FailedCreate", "quota exceeded")
        recorder.event(*second)
        assert recorder.flush(BOUND)

    assert [e["count"] for e in written(api)] == [1, 1]
    assert writes(api) == [Verb.CREATE, Verb.CREATE]


def test_a_repeat_after_the_aggregation_window_is_a_new_event(
    api: FakeApiServer, clock: FakeClock
) -> None:
    recorder = EventRecorder(api, component="mc", clock=clock, aggregation_window=60.0)

    with running(recorder):
        recorder.event(machine(), events.NORMAL, "Drained", "node drained")
        assert recorder.flush(BOUND)
        clock.step(59.0)
        recorder.event(machine(), events.NORMAL, "Drained", "node drained")
        assert recorder.flush(BOUND)
        clock.step(61.0)  # the window runs from the latest occurrence
        recorder.event(machine(), events.NORMAL, "Drained", "node drained")
        assert recorder.flush(BOUND)

    assert sorted(e["count"] for e in written(api)) == [1, 2]
    assert writes(api) == [Verb.CREATE, Verb.PATCH, Verb.CREATE]


def test_a_repeat_of_an_event_the_server_expired_creates_it_again_with_its_history(
    api: FakeApiServer, recorder: EventRecorder, clock: FakeClock
) -> None:
    with running(recorder):
        recorder.event(machine(), events.WARNING, "FailedCreate", "quota exceeded")
        assert recorder.flush(BOUND)
        [first] = written(api)
        api.delete(EVENTS, first["metadata"]["name"], namespace="shoot--a")
        clock.step(10.0)
        recorder.event(machine(), events.WARNING, "FailedCreate", "quota exceeded")
        assert recorder.flush(BOUND)

    [again] = written(api)
    assert again["metadata"]["name"] == first["metadata"]["name"]
    assert again["count"] == 2
    assert again["firstTimestamp"] == START
    assert again["lastTimestamp"] == "2023-11-14T22:13:30Z"


def test_events_about_a_cluster_scoped_object_go_to_the_default_namespace(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    # A list item: the API server sends it without kind and apiVersion; the model knows them.
    node = Node.from_dict(
        {"metadata": {"name": "ip-10-0-0-1", "uid": "n1", "resourceVersion": "3"}}
    )

    with running(recorder):
        recorder.event(node, events.WARNING, "NodeNotReady", "kubelet stopped posting status")
        assert recorder.flush(BOUND)

    [event] = written(api)
    assert event["metadata"]["namespace"] == "default"
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Node",
        "name": "ip-10-0-0-1",
        "uid": "n1",
        "resourceVersion": "3",
    }


@pytest.mark.parametrize(
    "subject",
    [
        pytest.param(
            {"kind": "Secret", "apiVersion": "v1", "metadata": {"name": "s", "namespace": "ns"}},
            id="raw-json",
        ),
        pytest.param(
            ObjectReference(kind="Secret", api_version="v1", name="s", namespace="ns"),
            id="object-reference",
        ),
    ],
)
def test_an_event_may_be_about_raw_json_or_an_object_reference(
    api: FakeApiServer, recorder: EventRecorder, subject: Mapping[str, Any] | ObjectReference
) -> None:
    with running(recorder):
        recorder.event(subject, events.NORMAL, "Seen", "seen")
        assert recorder.flush(BOUND)

    [event] = written(api, "ns")
    assert event["involvedObject"] == {
        "apiVersion": "v1",
        "kind": "Secret",
        "name": "s",
        "namespace": "ns",
    }


def test_events_queued_before_stop_are_written_before_run_returns(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    for index in range(3):
        recorder.event(machine(name=f"m{index}"), events.NORMAL, "Created", "created")
    stop = threading.Event()
    stop.set()

    recorder.run(stop)

    assert [e["involvedObject"]["name"] for e in written(api)] == ["m0", "m1", "m2"]


def test_events_recorded_after_the_writer_stopped_are_dropped(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    stop = threading.Event()
    stop.set()
    recorder.run(stop)

    recorder.event(machine(), events.NORMAL, "Created", "created")

    assert recorder.flush(BOUND)
    assert written(api) == []


class GatedApi:
    """The fake API server, but ``create`` waits until the test opens the gate."""

    def __init__(self, api: FakeApiServer) -> None:
        self._api = api
        self.entered = threading.Semaphore(0)
        self.gate = threading.Event()

    def create(self, *args: Any, **kwargs: Any) -> JSON:
        self.entered.release()
        assert self.gate.wait(BOUND)
        return self._api.create(*args, **kwargs)

    def __getattr__(self, name: str) -> Any:
        return getattr(self._api, name)


def test_recording_never_waits_for_a_slow_api_server_and_drops_beyond_the_queue(
    api: FakeApiServer, clock: FakeClock, caplog: pytest.LogCaptureFixture
) -> None:
    gated = GatedApi(api)
    recorder = EventRecorder(gated, component="mc", clock=clock, queue_size=2)

    with running(recorder):
        recorder.event(machine(name="m0"), events.NORMAL, "Created", "created")
        assert gated.entered.acquire(timeout=BOUND)  # the writer is stuck in create
        with caplog.at_level(logging.WARNING, logger="mcm.events"):
            for index in range(1, 4):  # these return while the writer is stuck
                recorder.event(machine(name=f"m{index}"), events.NORMAL, "Created", "created")
        gated.gate.set()
        assert recorder.flush(BOUND)

    assert [e["involvedObject"]["name"] for e in written(api)] == ["m0", "m1", "m2"]
    assert [r.getMessage() for r in caplog.records] == [
        "too many queued events; dropping event Created about Machine shoot--a/m3"
    ]


def test_an_api_error_is_logged_and_the_event_dropped(
    api: FakeApiServer, recorder: EventRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    api.fail_next("create", EVENTS, error=ServerError("etcd is down", status=500))

    with running(recorder), caplog.at_level(logging.WARNING, logger="mcm.events"):
        recorder.event(machine(name="m0"), events.NORMAL, "Created", "created")
        recorder.event(machine(name="m1"), events.NORMAL, "Created", "created")
        assert recorder.flush(BOUND)

    assert [e["involvedObject"]["name"] for e in written(api)] == ["m1"]
    [record] = caplog.records
    assert "Created" in record.getMessage()
    assert "shoot--a/m0" in record.getMessage()
    assert "etcd is down" in record.getMessage()


def test_a_long_message_is_cut_to_1024_characters(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    with running(recorder):
        recorder.event(machine(), events.WARNING, "FailedCreate", "x" * 5000)
        assert recorder.flush(BOUND)

    [event] = written(api)
    assert len(event["message"]) == events.MAX_MESSAGE_LENGTH
    assert event["message"].endswith("x...")


def test_an_unsupported_event_type_is_refused(
    api: FakeApiServer, recorder: EventRecorder, caplog: pytest.LogCaptureFixture
) -> None:
    with running(recorder), caplog.at_level(logging.ERROR, logger="mcm.events"):
        recorder.event(machine(), "Error", "Boom", "boom")
        assert recorder.flush(BOUND)

    assert written(api) == []
    assert "unsupported event type 'Error'" in caplog.text


def test_events_recorded_at_the_same_instant_get_distinct_names(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    with running(recorder):
        recorder.event(machine(), events.NORMAL, "Created", "one")
        recorder.event(machine(), events.NORMAL, "Created", "two")
        assert recorder.flush(BOUND)

    names = [e["metadata"]["name"] for e in written(api)]
    assert len(set(names)) == 2


def test_eventf_formats_the_message_percent_style(
    api: FakeApiServer, recorder: EventRecorder
) -> None:
    with running(recorder):
        recorder.eventf(machine(), events.NORMAL, "Scaled", "scaled from %d to %d", 1, 3)
        recorder.eventf(machine(name="m2"), events.NORMAL, "Literal", "100% done")
        assert recorder.flush(BOUND)

    assert sorted(e["message"] for e in written(api)) == ["100% done", "scaled from 1 to 3"]


# --- FakeRecorder ---------------------------------------------------------------------------------


def test_the_fake_recorder_keeps_type_reason_message_and_key_in_order() -> None:
    recorder = FakeRecorder()
    node = Node.from_dict({"metadata": {"name": "ip-10-0-0-1"}})

    recorder.event(machine(), events.NORMAL, "Created", "created")
    recorder.eventf(node, events.WARNING, "NotReady", "for %ds", 30)
    recorder.event(machine(), events.WARNING, "FailedDelete", "x" * 2000)

    assert recorder.events == [
        ("Normal", "Created", "created", ObjectKey("shoot--a", "machine-1")),
        ("Warning", "NotReady", "for 30s", ObjectKey("", "ip-10-0-0-1")),
        ("Warning", "FailedDelete", "x" * 2000, ObjectKey("shoot--a", "machine-1")),
    ]


def test_the_fake_recorder_selects_events_by_object_and_forgets_on_clear() -> None:
    recorder = FakeRecorder()
    recorder.event(machine(), events.NORMAL, "Created", "created")
    recorder.event(machine(name="other"), events.NORMAL, "Created", "created")
    recorder.event(machine(), events.NORMAL, "Running", "running")
    key = ObjectKey("shoot--a", "machine-1")

    assert recorder.events_for(key) == [
        RecordedEvent("Normal", "Created", "created", key),
        RecordedEvent("Normal", "Running", "running", key),
    ]
    assert recorder.reasons_for(key) == ["Created", "Running"]
    recorder.clear()
    assert recorder.events == []
