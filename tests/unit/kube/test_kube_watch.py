"""KubeClient.watch against a fake API server streaming chunked JSON lines."""

from __future__ import annotations

import json
import queue
import threading
import time
from pathlib import Path
from typing import Any

import pytest

from mcm import errors
from mcm.kube.client import KubeClient
from mcm.kube.protocol import EventType, WatchEvent
from mcm.kube.resources import MACHINES, NODES, PODS
from tests.unit.kube.kube_http_fakes import BOUND, FakeAPIServer

pytestmark = pytest.mark.timeout(20)

MACHINES_IN_NS1 = "/apis/machine.sapcloud.io/v1alpha1/namespaces/ns1/machines"


def _machine(name: str, rv: str) -> dict[str, Any]:
    return {
        "apiVersion": "machine.sapcloud.io/v1alpha1",
        "kind": "Machine",
        "metadata": {"name": name, "namespace": "ns1", "resourceVersion": rv},
    }


def _event(kind: str, obj: dict[str, Any]) -> dict[str, Any]:
    return {"type": kind, "object": obj}


def test_watch_sends_the_watch_parameters(client: KubeClient, apiserver: FakeAPIServer) -> None:
    apiserver.stream(MACHINES_IN_NS1, [])

    stream = client.watch(
        MACHINES,
        namespace="ns1",
        label_selector="a=b",
        field_selector="metadata.name=m1",
        resource_version="41",
        timeout_seconds=300,
    )
    list(stream)

    request = apiserver.requests[0]
    assert request.path == MACHINES_IN_NS1
    assert {name: request.param(name) for name in request.query} == {
        "watch": "true",
        "allowWatchBookmarks": "true",
        "labelSelector": "a=b",
        "fieldSelector": "metadata.name=m1",
        "resourceVersion": "41",
        "timeoutSeconds": "300",
    }


def test_a_watch_without_bookmarks_or_namespace_watches_all_namespaces_plainly(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.stream("/api/v1/pods", [])

    list(client.watch(PODS, allow_watch_bookmarks=False))

    assert {name: apiserver.requests[0].param(name) for name in apiserver.requests[0].query} == {
        "watch": "true"
    }


def test_events_arrive_in_order_and_the_stream_ends_when_the_server_ends_it(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    bookmark = {"kind": "Machine", "metadata": {"resourceVersion": "45"}}
    apiserver.stream(
        MACHINES_IN_NS1,
        [
            _event("ADDED", _machine("m1", "42")),
            _event("MODIFIED", _machine("m1", "43")),
            _event("DELETED", _machine("m1", "44")),
            _event("BOOKMARK", bookmark),
        ],
    )

    events = list(client.watch(MACHINES, namespace="ns1"))

    assert events == [
        WatchEvent(EventType.ADDED, _machine("m1", "42")),
        WatchEvent(EventType.MODIFIED, _machine("m1", "43")),
        WatchEvent(EventType.DELETED, _machine("m1", "44")),
        WatchEvent(EventType.BOOKMARK, bookmark),
    ]


def test_lines_are_reassembled_across_chunks_and_blank_lines_are_skipped(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    first = json.dumps(_event("ADDED", _machine("m1", "1"))).encode()
    second = json.dumps(_event("ADDED", _machine("m2", "2"))).encode()
    third = json.dumps(_event("ADDED", _machine("m3", "3"))).encode()
    apiserver.stream(
        MACHINES_IN_NS1,
        [first[:10], first[10:] + b"\n\n" + second + b"\n" + third[:5], third[5:]],
    )

    names = [e.object["metadata"]["name"] for e in client.watch(MACHINES, namespace="ns1")]

    assert names == ["m1", "m2", "m3"]


@pytest.mark.parametrize(
    ("status", "error"),
    [
        pytest.param(
            {"code": 410, "reason": "Expired", "message": "too old resource version: 1 (5)"},
            errors.GoneError,
            id="410-expired",
        ),
        pytest.param(
            {"code": 500, "reason": "InternalError", "message": "etcd went away"},
            errors.ServerError,
            id="500",
        ),
    ],
)
def test_an_error_event_raises_the_matching_error_after_the_events_before_it(
    client: KubeClient, apiserver: FakeAPIServer, status: dict[str, Any], error: type[Exception]
) -> None:
    apiserver.stream(
        MACHINES_IN_NS1,
        [
            _event("ADDED", _machine("m1", "1")),
            _event("ERROR", {"kind": "Status", "apiVersion": "v1", "status": "Failure", **status}),
            _event("ADDED", _machine("never", "2")),
        ],
    )
    seen: list[WatchEvent] = []

    with pytest.raises(errors.ApiError) as caught:
        seen.extend(client.watch(MACHINES, namespace="ns1", resource_version="1"))

    assert type(caught.value) is error
    assert caught.value.message == status["message"]
    assert [e.object["metadata"]["name"] for e in seen] == ["m1"]


@pytest.mark.parametrize(
    ("status", "reason", "error"),
    [
        pytest.param(410, "Expired", errors.GoneError, id="410"),
        pytest.param(403, "Forbidden", errors.ForbiddenError, id="403"),
    ],
)
def test_a_watch_the_server_refuses_raises_when_opened(
    client: KubeClient,
    apiserver: FakeAPIServer,
    status: int,
    reason: str,
    error: type[Exception],
) -> None:
    body = {
        "kind": "Status",
        "status": "Failure",
        "code": status,
        "reason": reason,
        "message": "no",
    }
    apiserver.reply("GET", "/api/v1/nodes", status, body=body)

    with pytest.raises(error, match="no"):
        client.watch(NODES)


def test_a_silent_watch_raises_a_transport_error_after_the_read_timeout(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.stream(MACHINES_IN_NS1, [_event("ADDED", _machine("m1", "1"))], hold=True)
    stream = client.watch(MACHINES, namespace="ns1", read_timeout=0.3)
    seen: list[WatchEvent] = []

    with pytest.raises(errors.TransportError, match=r"nothing received for 0\.3 s"):
        seen.extend(stream)

    assert [e.object["metadata"]["name"] for e in seen] == ["m1"]


def test_a_connection_broken_mid_stream_is_a_transport_error(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    def broken(handler: Any) -> None:
        handler.start_chunked()
        handler.send_chunk(json.dumps(_event("ADDED", _machine("m1", "1"))).encode() + b"\n")
        handler.send_chunk(b'{"type": "ADD')
        handler.close_connection = True  # no terminating chunk

    apiserver.script("GET", MACHINES_IN_NS1, broken)

    with pytest.raises(errors.TransportError):
        list(client.watch(MACHINES, namespace="ns1"))


@pytest.mark.parametrize(
    "line",
    [
        pytest.param(b"{not json}\n", id="not-json"),
        pytest.param(b'{"type": "ADDED"}\n', id="no-object"),
        pytest.param(b'{"type": "RENAMED", "object": {}}\n', id="unknown-type"),
    ],
)
def test_an_undecodable_event_is_a_transport_error(
    client: KubeClient, apiserver: FakeAPIServer, line: bytes
) -> None:
    apiserver.stream(MACHINES_IN_NS1, [line])

    with pytest.raises(errors.TransportError):
        list(client.watch(MACHINES, namespace="ns1"))


def test_close_from_another_thread_ends_a_blocked_iteration_promptly(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    sent = threading.Event()
    apiserver.stream(MACHINES_IN_NS1, [_event("ADDED", _machine("m1", "1"))], hold=True, sent=sent)
    stream = client.watch(MACHINES, namespace="ns1")  # no read timeout: it would block forever
    received: queue.Queue[WatchEvent] = queue.Queue()
    outcome: list[BaseException | None] = []

    def consume() -> None:
        try:
            for event in stream:
                received.put(event)
        except BaseException as exc:
            outcome.append(exc)
        else:
            outcome.append(None)

    consumer = threading.Thread(target=consume, daemon=True)
    consumer.start()
    first = received.get(timeout=BOUND)
    assert sent.wait(BOUND)
    started = time.monotonic()
    stream.close()
    consumer.join(BOUND)

    assert first.object["metadata"]["name"] == "m1"
    assert not consumer.is_alive()
    assert time.monotonic() - started < 2.0
    assert outcome == [None]


def test_a_stream_closed_before_iteration_yields_nothing(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.stream(MACHINES_IN_NS1, [_event("ADDED", _machine("m1", "1"))], hold=True)
    stream = client.watch(MACHINES, namespace="ns1")

    stream.close()

    assert list(stream) == []


def test_a_stream_can_be_iterated_only_once(client: KubeClient, apiserver: FakeAPIServer) -> None:
    apiserver.stream(MACHINES_IN_NS1, [])
    stream = client.watch(MACHINES, namespace="ns1")
    list(stream)

    with pytest.raises(RuntimeError):
        iter(stream)


def test_the_client_keeps_working_after_watches_end_and_close(
    client: KubeClient, apiserver: FakeAPIServer
) -> None:
    apiserver.stream(MACHINES_IN_NS1, [_event("ADDED", _machine("m1", "1"))], hold=True)
    apiserver.stream("/api/v1/nodes", [])
    apiserver.reply("GET", "/api/v1/nodes/n1", body={"metadata": {"name": "n1"}})
    held = client.watch(MACHINES, namespace="ns1")
    next(iter(held))
    held.close()
    list(client.watch(NODES))

    results = [client.get(NODES, "n1") for _ in range(3)]

    assert all(r == {"metadata": {"name": "n1"}} for r in results)


def test_watch_requests_do_not_keep_their_connection_alive(
    kubeconfig: Path, apiserver: FakeAPIServer
) -> None:
    apiserver.stream("/api/v1/nodes", [])

    with KubeClient.from_kubeconfig(kubeconfig, qps=0) as kube:
        list(kube.watch(NODES))

    assert apiserver.requests[0].headers["connection"] == "close"
