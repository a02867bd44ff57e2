"""Test doubles for mcm.cache: a scripted API server, recording store, clock and handler, builders.

`ScriptedApi` plays client-go's ``FakeControllerSource``: it holds objects, answers lists from them
(or from scripted answers and errors), and hands out `ScriptedWatch` streams that the test feeds
event by event, breaks with an error, or ends. Every call is recorded, and ``wait_for_*`` methods
block (boundedly, in real time) until the code under test has made the call a test looks at.
"""

from __future__ import annotations

import collections
import contextlib
import copy
import threading
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from mcm.cache import DeletedFinalStateUnknown
from mcm.clock import FakeClock
from mcm.errors import TransportError
from mcm.kube.protocol import Api, EventType, ObjectList, WatchEvent
from mcm.kube.resources import Resource

WAIT = 5.0
"""Real seconds any wait in these doubles may take before the test fails."""


def raw(
    name: str,
    rv: int | str,
    *,
    namespace: str = "default",
    labels: Mapping[str, str] | None = None,
    **extra: Any,
) -> dict[str, Any]:
    """An object as the API server would send it."""
    metadata: dict[str, Any] = {"name": name, "resourceVersion": str(rv), "uid": f"uid-{name}"}
    if namespace:
        metadata["namespace"] = namespace
    if labels:
        metadata["labels"] = dict(labels)
    return {"apiVersion": "v1", "kind": "Thing", "metadata": metadata, **extra}


def wait_until(predicate: Callable[[], bool], cond: threading.Condition, what: str) -> None:
    """Block on *cond* (held by the caller) until *predicate* holds; fail the test after `WAIT`."""
    if not cond.wait_for(predicate, timeout=WAIT):
        raise AssertionError(f"timed out waiting for {what}")


class RecordingClock(FakeClock):
    """A `FakeClock` that remembers every `wait`'s timeout, so tests can assert back-off delays."""

    def __init__(self) -> None:
        super().__init__()
        self.waits: list[float | None] = []

    def wait(self, event: threading.Event, timeout: float | None) -> bool:
        self.waits.append(timeout)
        return super().wait(event, timeout)


_NOTHING = object()


class ScriptedWatch:
    """One watch stream; the test decides what it yields and how it ends."""

    def __init__(self, call: Mapping[str, Any], clock: FakeClock | None) -> None:
        self.call = call
        self._clock = clock  # when set, the stream honours `read_timeout` on it
        self._lock = threading.Lock()
        self._items: collections.deque[object] = collections.deque()
        self._ready = threading.Event()
        self.closed = threading.Event()
        self.timed_out = threading.Event()

    def send(self, event_type: str, obj: Mapping[str, Any]) -> None:
        self._push(WatchEvent(EventType(event_type), copy.deepcopy(dict(obj))))

    def fail(self, exc: BaseException) -> None:
        """The stream raises *exc* after what was sent before."""
        self._push(exc)

    def end(self) -> None:
        """The server ends the watch (its timeout expired) after what was sent before."""
        self._push(None)

    def close(self) -> None:
        self.closed.set()
        self._ready.set()

    def _push(self, item: object) -> None:
        with self._lock:
            self._items.append(item)
            self._ready.set()

    def __iter__(self) -> Iterator[WatchEvent]:
        while True:
            with self._lock:
                if self.closed.is_set():
                    return
                item = self._items.popleft() if self._items else _NOTHING
                if not self._items:
                    self._ready.clear()
            if item is _NOTHING:
                self._wait_for_data()
                continue
            if item is None:
                return
            if isinstance(item, BaseException):
                raise item
            assert isinstance(item, WatchEvent)
            yield item

    def _wait_for_data(self) -> None:
        read_timeout = self.call.get("read_timeout")
        if self._clock is not None and read_timeout is not None:
            if not self._clock.wait(self._ready, read_timeout):
                self.timed_out.set()
                raise TransportError(f"no data for {read_timeout} s")
        elif not self._ready.wait(30.0):  # a leaked stream must not hold a thread forever
            raise TransportError("scripted watch left idle")


class ScriptedApi(Api):
    """The list and watch half of `mcm.kube.protocol.Api`, scripted by the test; the rest raises."""

    def __init__(self, clock: FakeClock | None = None) -> None:
        self._clock = clock
        self._cond = threading.Condition()
        self.objects: dict[tuple[str, str], dict[str, Any]] = {}
        self.resource_version = 100
        self.list_results: collections.deque[ObjectList | Exception] = collections.deque()
        """Answers (or errors) for the next lists, before falling back to `objects`."""
        self.watch_errors: collections.deque[Exception] = collections.deque()
        """Errors the next watch calls raise instead of opening a stream."""
        self.list_calls: list[dict[str, Any]] = []
        self.watch_calls: list[dict[str, Any]] = []
        self.watches: list[ScriptedWatch] = []

    def seed(self, *objects: Mapping[str, Any]) -> None:
        """Replace the server's objects; the collection's resourceVersion becomes the highest."""
        with self._cond:
            self.objects = {_key(o): copy.deepcopy(dict(o)) for o in objects}
            versions = [int(o["metadata"]["resourceVersion"]) for o in objects]
            self.resource_version = max([self.resource_version, *versions])

    def list(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        limit: int | None = None,
        continue_token: str | None = None,
    ) -> ObjectList:
        with self._cond:
            self.list_calls.append(
                {
                    "resource": resource,
                    "namespace": namespace,
                    "label_selector": label_selector,
                    "field_selector": field_selector,
                    "resource_version": resource_version,
                    "limit": limit,
                    "continue_token": continue_token,
                }
            )
            self._cond.notify_all()
            if self.list_results:
                answer = self.list_results.popleft()
                if isinstance(answer, Exception):
                    raise answer
                return answer
            items = [
                copy.deepcopy(o)
                for key, o in sorted(self.objects.items())
                if namespace is None or key[0] == namespace
            ]
            start = int(continue_token or 0)
            end = len(items) if not limit else start + limit
            return ObjectList(
                items=items[start:end],
                resource_version=str(self.resource_version),
                continue_token=str(end) if end < len(items) else "",
            )

    def watch(
        self,
        resource: Resource,
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resource_version: str | None = None,
        timeout_seconds: int | None = None,
        allow_watch_bookmarks: bool = True,
        read_timeout: float | None = None,
    ) -> ScriptedWatch:
        with self._cond:
            call = {
                "resource": resource,
                "namespace": namespace,
                "label_selector": label_selector,
                "field_selector": field_selector,
                "resource_version": resource_version,
                "timeout_seconds": timeout_seconds,
                "allow_watch_bookmarks": allow_watch_bookmarks,
                "read_timeout": read_timeout,
            }
            self.watch_calls.append(call)
            self._cond.notify_all()
            if self.watch_errors:
                raise self.watch_errors.popleft()
            stream = ScriptedWatch(call, self._clock)
            self.watches.append(stream)
            return stream

    def _unsupported(self, *args: Any, **kwargs: Any) -> Any:
        raise NotImplementedError("the cache only lists and watches")

    get = create = update = update_status = patch = patch_status = delete = evict = _unsupported

    def wait_for_list(self, n: int) -> dict[str, Any]:
        """The *n*-th list call (1-based), once it has been made."""
        with self._cond:
            wait_until(lambda: len(self.list_calls) >= n, self._cond, f"list call {n}")
            return self.list_calls[n - 1]

    def wait_for_watch_call(self, n: int) -> dict[str, Any]:
        """The *n*-th watch call, successful or not."""
        with self._cond:
            wait_until(lambda: len(self.watch_calls) >= n, self._cond, f"watch call {n}")
            return self.watch_calls[n - 1]

    def wait_for_watch(self, n: int) -> ScriptedWatch:
        """The *n*-th watch stream opened."""
        with self._cond:
            wait_until(lambda: len(self.watches) >= n, self._cond, f"watch stream {n}")
            return self.watches[n - 1]

    def emit(self, event_type: str, obj: Mapping[str, Any]) -> None:
        """Change the server's state and send the event to every open watch."""
        with self._cond:
            if event_type == "DELETED":
                self.objects.pop(_key(obj), None)
            else:
                self.objects[_key(obj)] = copy.deepcopy(dict(obj))
            self.resource_version = max(
                self.resource_version, int(obj["metadata"]["resourceVersion"])
            )
            streams = [w for w in self.watches if not w.closed.is_set()]
        for stream in streams:
            stream.send(event_type, obj)


def _key(obj: Mapping[str, Any]) -> tuple[str, str]:
    metadata = obj["metadata"]
    return metadata.get("namespace", ""), metadata["name"]


class RecordingStore:
    """A `ReflectorStore` that records each call as ``(verb, names, resource_version)``."""

    def __init__(self) -> None:
        self._cond = threading.Condition()
        self.calls: list[tuple[str, tuple[str, ...], str]] = []

    def _record(self, verb: str, objs: list[Any], resource_version: str) -> None:
        with self._cond:
            self.calls.append((verb, tuple(o.metadata.name for o in objs), resource_version))
            self._cond.notify_all()

    def add(self, obj: Any) -> None:
        self._record("add", [obj], obj.metadata.resource_version)

    def update(self, obj: Any) -> None:
        self._record("update", [obj], obj.metadata.resource_version)

    def delete(self, obj: Any) -> None:
        self._record("delete", [obj], obj.metadata.resource_version)

    def replace(self, items: Any, resource_version: str) -> None:
        self._record("replace", list(items), resource_version)

    def wait_for_calls(self, n: int) -> list[tuple[str, tuple[str, ...], str]]:
        with self._cond:
            wait_until(lambda: len(self.calls) >= n, self._cond, f"{n} store calls")
            return list(self.calls)


@contextlib.contextmanager
def running(run: Callable[[threading.Event], None]) -> Iterator[threading.Event]:
    """Run ``run(stop)`` on a thread; on exit set stop and require it to return within `WAIT`."""
    stop = threading.Event()
    thread = threading.Thread(target=run, args=(stop,), daemon=True)
    thread.start()
    try:
        yield stop
    finally:
        stop.set()
        thread.join(WAIT)
        assert not thread.is_alive(), "run(stop) did not return after stop was set"


class RecordingHandler:
    """A `ResourceEventHandler` that records notifications; *gate*, if given, holds up each one."""

    def __init__(self, gate: threading.Event | None = None) -> None:
        self._gate = gate
        self._cond = threading.Condition()
        self.events: list[tuple[str, ...]] = []
        self.received: list[Any] = []  # the objects themselves, in order

    def _record(self, event: tuple[str, ...], *objs: Any) -> None:
        with self._cond:
            self.events.append(event)
            self.received.extend(objs)
            self._cond.notify_all()
        if self._gate is not None and not self._gate.wait(WAIT):
            raise AssertionError("gate was never opened")

    def on_add(self, obj: Any) -> None:
        self._record(("add", obj.metadata.name, obj.metadata.resource_version), obj)

    def on_update(self, old: Any, new: Any) -> None:
        md = new.metadata
        self._record(
            ("update", md.name, old.metadata.resource_version, md.resource_version), old, new
        )

    def on_delete(self, obj: Any) -> None:
        if isinstance(obj, DeletedFinalStateUnknown):
            rv = obj.obj.metadata.resource_version if obj.obj is not None else ""
            self._record(("delete", f"DFSU:{obj.key}", rv), obj)
        else:
            self._record(("delete", obj.metadata.name, obj.metadata.resource_version), obj)

    def wait_for(self, n: int) -> list[tuple[str, ...]]:
        """The first *n* notifications, once they have arrived."""
        with self._cond:
            wait_until(lambda: len(self.events) >= n, self._cond, f"{n} notifications")
            return self.events[:n]
