"""Kubernetes Events about the objects controllers manage: client-go's ``tools/record``.

Controllers report what they did and what went wrong (``kubectl describe machine`` shows it) through
a `Recorder`: ``recorder.event(machine, events.WARNING, "FailedCreate", "...")``. Two
implementations keep the same contract:

- `EventRecorder` writes core/v1 Events through an `mcm.kube.protocol.Api`. Recording never blocks
  the caller, and a failed write never reaches it: `EventRecorder.event` puts the event on a
  bounded queue, and one writer thread (`EventRecorder.run`) writes it. A full queue, an API error
  or an unsupported event type is logged and the event is dropped; a slow API server slows nothing
  but the writer.
- `FakeRecorder` keeps ``(type, reason, message, key)`` tuples in a list, synchronously, for tests
  (client-go's ``record.FakeRecorder``).

What an Event looks like, as client-go's recorder writes it:

- It lives in the involved object's namespace, or in ``default`` for a cluster-scoped object such as
  a Node, and is named ``<object name>.<hex timestamp>``, the timestamp being the recording time in
  nanoseconds (kept strictly increasing per recorder, so two events recorded within the same
  nanosecond still get different names).
- ``involvedObject`` carries the object's kind, apiVersion, name, namespace, uid and
  resourceVersion; ``source.component``/``reportingComponent`` the recorder's *component* and
  ``source.host``/``reportingInstance`` its *host*; ``type`` is `NORMAL` or `WARNING` (any other
  type is refused, as client-go refuses it).
- ``firstTimestamp``, ``lastTimestamp`` and ``count`` aggregate repeats: an event equal to one
  written less than *aggregation_window* seconds before (same object, type, reason and message; the
  object's resourceVersion does not count) is not created again, but patched onto the earlier one
  with ``count`` + 1 and a new ``lastTimestamp`` (client-go's ``eventLogger``). An earlier Event
  that is gone (Events expire on the server) is created again under its old name. The memory of
  earlier events is an LRU cache of *cache_size* entries.
- ``message`` is cut to `MAX_MESSAGE_LENGTH` characters.

**Secrets.** A message is stored in the cluster and shown to anyone who may read Events: callers
must never put credentials, user data or bootstrap tokens in one (nor in a reason). Error messages
from cloud providers should be passed through the provider's own redaction first.

Durations are float seconds; timestamps come from the injected `mcm.clock.Clock`.
"""

from __future__ import annotations

import collections
import datetime
import logging
import threading
from collections.abc import Mapping
from typing import Any, NamedTuple, Protocol

import attrs
import cachetools

from mcm.api.core import ObjectReference
from mcm.api.meta import KubeObject, ObjectKey, format_time
from mcm.clock import Clock, RealClock
from mcm.errors import MCMError, NotFoundError
from mcm.kube.protocol import Api, PatchType
from mcm.kube.resources import EVENTS

logger = logging.getLogger(__name__)

NORMAL = "Normal"
"""Event type: information, nothing went wrong (``corev1.EventTypeNormal``)."""
WARNING = "Warning"
"""Event type: something failed or may need attention (``corev1.EventTypeWarning``)."""
EVENT_TYPES = frozenset({NORMAL, WARNING})

# Where Events about cluster-scoped objects go, as client-go's recorder puts them
# (metav1.NamespaceDefault); the API server accepts "" or "default" for them.
EVENT_NAMESPACE_FOR_CLUSTER_SCOPED = "default"

# The events.k8s.io limit on an Event's note; core/v1 has none, but a 50 kB driver error in an
# Event helps nobody.
MAX_MESSAGE_LENGTH = 1024

# client-go's maxQueuedEvents: events waiting for the writer beyond this are dropped.
DEFAULT_QUEUE_SIZE = 1000

# client-go's maxLruCacheEntries for the event logger's memory of earlier events.
DEFAULT_CACHE_SIZE = 4096

# Repeats within this long of the previous occurrence are counted on the same Event. client-go's
# event logger has no window at all (an LRU only); its aggregator uses ten minutes. We take the
# aggregator's, so that a very old Event is not revived for a fresh occurrence.
DEFAULT_AGGREGATION_WINDOW = 600.0

# How long, on the clock, the writer keeps writing queued events after stop before dropping them.
DEFAULT_DRAIN_TIMEOUT = 5.0

EventSubject = KubeObject | Mapping[str, Any] | ObjectReference
"""What an event can be about: a parsed object, its raw JSON, or an explicit reference."""


class Recorder(Protocol):
    """Records Events about objects (client-go's ``record.EventRecorder``)."""

    def event(self, obj: EventSubject, type_: str, reason: str, message: str) -> None:
        """Record that *reason* happened to *obj*; *type_* is `NORMAL` or `WARNING`."""
        ...

    def eventf(
        self, obj: EventSubject, type_: str, reason: str, message_fmt: str, *args: object
    ) -> None:
        """`event` with ``message_fmt % args`` as the message."""
        ...


def involved_object(obj: EventSubject) -> ObjectReference:
    """The ``involvedObject`` of an Event about *obj*.

    kind and apiVersion come from the object's JSON, or, for a parsed model whose JSON lacks them
    (list items do), from the model class's ``KIND``/``API_VERSION``.
    """
    if isinstance(obj, ObjectReference):
        return obj
    if isinstance(obj, Mapping):
        meta = obj.get("metadata") or {}
        return ObjectReference(
            kind=_text(obj.get("kind")),
            api_version=_text(obj.get("apiVersion")),
            name=_text(meta.get("name")),
            namespace=_text(meta.get("namespace")),
            uid=_text(meta.get("uid")),
            resource_version=_text(meta.get("resourceVersion")),
        )
    metadata = obj.metadata
    return ObjectReference(
        kind=_text(obj.raw.get("kind")) or _text(getattr(type(obj), "KIND", "")),
        api_version=_text(obj.raw.get("apiVersion"))
        or _text(getattr(type(obj), "API_VERSION", "")),
        name=metadata.name,
        namespace=metadata.namespace,
        uid=metadata.uid,
        resource_version=metadata.resource_version,
    )


def _text(value: Any) -> str:
    return value if isinstance(value, str) else ""


def _truncate(message: str) -> str:
    if len(message) <= MAX_MESSAGE_LENGTH:
        return message
    return message[: MAX_MESSAGE_LENGTH - 3] + "..."


def _format(message_fmt: str, args: tuple[object, ...]) -> str:
    return message_fmt % args if args else message_fmt


# --- the real recorder ----------------------------------------------------------------------------


@attrs.frozen
class _Pending:
    """One recorded event waiting for the writer."""

    involved: ObjectReference
    type: str
    reason: str
    message: str
    time: float  # wall seconds when recorded

    @property
    def aggregation_key(self) -> tuple[ObjectReference, str, str, str]:
        # client-go's getEventKey: the object without its resourceVersion, type, reason, message.
        return (
            attrs.evolve(self.involved, resource_version=""),
            self.type,
            self.reason,
            self.message,
        )


@attrs.frozen
class _Written:
    """What the server holds for an aggregated event."""

    name: str
    namespace: str
    count: int
    first_timestamp: str


class EventRecorder:
    """Writes core/v1 Events through *api* from one background thread; see the module docstring."""

    def __init__(
        self,
        api: Api,
        *,
        component: str,
        host: str = "",
        clock: Clock | None = None,  # FakeClock in tests
        queue_size: int = DEFAULT_QUEUE_SIZE,
        cache_size: int = DEFAULT_CACHE_SIZE,
        aggregation_window: float = DEFAULT_AGGREGATION_WINDOW,
        drain_timeout: float = DEFAULT_DRAIN_TIMEOUT,
    ) -> None:
        self._api = api
        self._component = component
        self._host = host
        self._clock: Clock = clock if clock is not None else RealClock()
        self._queue_size = queue_size
        self._drain_timeout = drain_timeout
        self._cond = threading.Condition()
        self._pending: collections.deque[_Pending] = collections.deque()  # at most queue_size
        self._writing = False  # the writer holds an event it took off _pending
        self._closed = False  # run has returned: nothing will write new events
        # cachetools caches are not thread-safe: every access holds _cache_lock. The TTL restarts
        # with every write of the key, so the window runs from the latest occurrence.
        self._cache_lock = threading.Lock()
        self._written: cachetools.TTLCache[tuple[ObjectReference, str, str, str], _Written] = (
            cachetools.TTLCache(
                maxsize=cache_size, ttl=aggregation_window, timer=self._clock.monotonic
            )
        )
        self._last_stamp = 0  # nanoseconds of the last name handed out; only the writer uses it

    # --- Recorder ---------------------------------------------------------------------------------

    def event(self, obj: EventSubject, type_: str, reason: str, message: str) -> None:
        """Queue an Event about *obj*; returns at once. Dropped (and logged) if it cannot be."""
        if type_ not in EVENT_TYPES:
            logger.error("unsupported event type %r for reason %s; event dropped", type_, reason)
            return
        involved = involved_object(obj)
        pending = _Pending(involved, type_, reason, _truncate(message), self._clock.now())
        with self._cond:
            if self._closed:
                logger.debug("event recorder stopped; dropping event %s about %s", reason, involved)
                return
            if len(self._pending) >= self._queue_size:
                logger.warning(
                    "too many queued events; dropping event %s about %s %s",
                    reason,
                    involved.kind,
                    _key(involved),
                )
                return
            self._pending.append(pending)
            self._cond.notify_all()

    def eventf(
        self, obj: EventSubject, type_: str, reason: str, message_fmt: str, *args: object
    ) -> None:
        """`event` with ``message_fmt % args`` as the message."""
        self.event(obj, type_, reason, _format(message_fmt, args))

    # --- the writer -------------------------------------------------------------------------------

    def run(self, stop: threading.Event) -> None:
        """Write queued events until *stop*; then write what is still queued and return.

        After *stop*, queued events are written for at most *drain_timeout* clock-seconds; the rest
        are dropped. Events recorded after this returns are dropped.
        """
        waker = threading.Thread(
            target=self._wake_on, args=(stop,), name="event-recorder-stop", daemon=True
        )
        waker.start()
        drain_deadline: float | None = None
        try:
            while True:
                with self._cond:
                    while not self._pending and not stop.is_set():
                        self._cond.wait()
                    if not self._pending:
                        return
                    if stop.is_set():
                        now = self._clock.monotonic()
                        if drain_deadline is None:
                            drain_deadline = now + self._drain_timeout
                        elif now >= drain_deadline:
                            logger.warning(
                                "event recorder stopping; dropping %d queued events",
                                len(self._pending),
                            )
                            self._pending.clear()
                            return
                    pending = self._pending.popleft()
                    self._writing = True
                try:
                    self._write(pending)
                except Exception:  # a bug here must not end event recording
                    logger.exception("failed to record event %s", pending.reason)
                finally:
                    with self._cond:
                        self._writing = False
                        self._cond.notify_all()
        finally:
            with self._cond:
                self._closed = True
                self._cond.notify_all()

    def flush(self, timeout: float) -> bool:
        """Wait (at most *timeout* real seconds) until every queued event has been written.

        True once nothing is queued or being written. For tests and orderly shutdowns.
        """
        with self._cond:
            return self._cond.wait_for(
                lambda: not self._pending and not self._writing, timeout=timeout
            )

    def _wake_on(self, stop: threading.Event) -> None:
        stop.wait()
        with self._cond:
            self._cond.notify_all()

    def _write(self, pending: _Pending) -> None:
        key = pending.aggregation_key
        with self._cache_lock:
            written = self._written.get(key)
        timestamp = format_time(datetime.datetime.fromtimestamp(pending.time, tz=datetime.UTC))
        try:
            if written is None:
                name = self._event_name(pending)
                written = self._create(pending, name, count=1, first=timestamp, last=timestamp)
            else:
                written = self._increment(pending, written, timestamp)
        except MCMError as exc:
            logger.warning(
                "could not record event %s about %s %s: %s",
                pending.reason,
                pending.involved.kind,
                _key(pending.involved),
                exc,
            )
            return
        with self._cache_lock:
            self._written[key] = written

    def _create(
        self, pending: _Pending, name: str, *, count: int, first: str, last: str
    ) -> _Written:
        involved = pending.involved
        namespace = involved.namespace or EVENT_NAMESPACE_FOR_CLUSTER_SCOPED
        source = {"component": self._component}
        if self._host:
            source["host"] = self._host
        body: dict[str, Any] = {
            "apiVersion": EVENTS.api_version,
            "kind": EVENTS.kind,
            "metadata": {"name": name, "namespace": namespace},
            "involvedObject": involved.to_dict(),
            "reason": pending.reason,
            "message": pending.message,
            "type": pending.type,
            "source": source,
            "firstTimestamp": first,
            "lastTimestamp": last,
            "count": count,
            "reportingComponent": self._component,
            "reportingInstance": self._host,
        }
        self._api.create(EVENTS, body, namespace=namespace)
        return _Written(name, namespace, count, first)

    def _increment(self, pending: _Pending, written: _Written, timestamp: str) -> _Written:
        count = written.count + 1
        patch = {"count": count, "lastTimestamp": timestamp, "message": pending.message}
        try:
            self._api.patch(
                EVENTS, written.name, patch, namespace=written.namespace, patch_type=PatchType.MERGE
            )
        except NotFoundError:  # expired on the server: create it again, keeping its history
            return self._create(
                pending, written.name, count=count, first=written.first_timestamp, last=timestamp
            )
        return attrs.evolve(written, count=count)

    def _event_name(self, pending: _Pending) -> str:
        stamp = max(int(pending.time * 1e9), self._last_stamp + 1)
        self._last_stamp = stamp
        return f"{pending.involved.name or 'unnamed'}.{stamp:x}"


def _key(ref: ObjectReference) -> ObjectKey:
    return ObjectKey(ref.namespace, ref.name)


# --- the fake -------------------------------------------------------------------------------------


class RecordedEvent(NamedTuple):
    """One event a `FakeRecorder` saw; compares equal to a plain 4-tuple."""

    type: str
    reason: str
    message: str
    key: ObjectKey


class FakeRecorder:
    """A `Recorder` that keeps events in a list, synchronously (``record.FakeRecorder``).

    Messages are kept exactly as given (no truncation) and every type is accepted, so a test sees
    what the controller asked for. Thread-safe.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._events: list[RecordedEvent] = []

    def event(self, obj: EventSubject, type_: str, reason: str, message: str) -> None:
        recorded = RecordedEvent(type_, reason, message, _key(involved_object(obj)))
        with self._lock:
            self._events.append(recorded)

    def eventf(
        self, obj: EventSubject, type_: str, reason: str, message_fmt: str, *args: object
    ) -> None:
        self.event(obj, type_, reason, _format(message_fmt, args))

    @property
    def events(self) -> list[RecordedEvent]:
        """Every event so far, oldest first (a copy)."""
        with self._lock:
            return list(self._events)

    def events_for(self, key: ObjectKey) -> list[RecordedEvent]:
        """The events about the object named *key*, oldest first."""
        with self._lock:
            return [event for event in self._events if event.key == key]

    def reasons_for(self, key: ObjectKey) -> list[str]:
        """The reasons of the events about the object named *key*, oldest first."""
        return [event.reason for event in self.events_for(key)]

    def clear(self) -> None:
        """Forget every event so far."""
        with self._lock:
            self._events.clear()
