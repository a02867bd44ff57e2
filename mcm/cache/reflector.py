"""`Reflector`: keeps a store in step with one resource on the API server, by list and watch.

Port of client-go ``tools/cache/reflector.go``. `Reflector.run` lists the resource, hands the whole
list to the store (`ReflectorStore.replace`), then watches from the list's resourceVersion and feeds
every event to the store, for as long as *stop* is unset. What it promises:

- **Resource versions.** The first list asks for ``resourceVersion="0"`` (the API server's watch
  cache may answer); later lists ask for the last resourceVersion seen. After the server says that
  version is gone (`mcm.errors.GoneError`: HTTP 410 or reason ``Expired``, from a list or a watch)
  the next list asks for ``""``, a consistent read of the latest state. A list that fails with
  `GoneError` is retried at once. Watches start from the last resourceVersion seen: the list's,
  advanced by every event and by ``BOOKMARK`` events (which change nothing else).
- **Watches cannot hang.** Each asks the server to end it after a random 300-600 s (so that a fleet
  of reflectors does not reconnect in lock-step) and allows bookmarks. The client side also gives up
  when no byte arrives for *watch_inactivity_timeout* seconds (default: the server timeout plus
  30 s), so a connection that died silently is noticed; the stream then raises
  `mcm.errors.TransportError`, and the watch is reopened from the last resourceVersion after a
  back-off.
- **Failures back off, never stop the loop.** A failed list, a refused or throttled watch, a watch
  that broke, or one that ended at once without a single event waits for the next `Backoff` delay
  (0.8 s doubling to 30 s, jittered, reset after two healthy minutes) on the injected clock. A watch
  the server simply ended is reopened immediately.
- **Objects are parsed here, once.** *transform* turns each raw dict into the typed, immutable
  object the store keeps. An object that *transform* rejects, or that has no ``metadata.name``, is
  logged (its kind, namespace and name only: objects may be Secrets) and skipped.
- **Stopping is prompt.** Setting *stop* closes the open watch stream from a helper thread, so `run`
  returns without waiting for the next event. A list in flight is not interrupted.

Durations are float seconds.
"""

from __future__ import annotations

import logging
import random
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

from mcm.api.meta import KubeObject
from mcm.cache.backoff import Backoff
from mcm.clock import Clock, RealClock
from mcm.errors import ApiError, GoneError, TooManyRequestsError, TransportError, api_error
from mcm.kube.protocol import Api, EventType, WatchEvent, WatchStream
from mcm.kube.resources import Resource

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=KubeObject)
T_contra = TypeVar("T_contra", bound=KubeObject, contravariant=True)

MIN_WATCH_TIMEOUT = 300
MAX_WATCH_TIMEOUT = 600
"""client-go's ``minWatchTimeout`` and twice it: server-side watch timeouts are drawn from here."""

INACTIVITY_MARGIN = 30.0
"""How much longer than the server-side timeout the client waits for a byte before it gives up."""

SHORT_WATCH = 1.0
"""A watch that ends within this many seconds without one event is treated as a failure (client-go
``VeryShortWatchError``): reopening it at once would spin."""


class ReflectorStore(Protocol[T_contra]):
    """What the reflector writes to (client-go ``ReflectorStore``); `DeltaFIFO` is one."""

    def add(self, obj: T_contra) -> None: ...

    def update(self, obj: T_contra) -> None: ...

    def delete(self, obj: T_contra) -> None: ...

    def replace(self, items: Iterable[T_contra], resource_version: str) -> None: ...


class _ShortWatchError(Exception):
    """The server ended a watch at once, sending nothing."""


class Reflector(Generic[T]):
    """Lists and watches *resource* into *store*; see the module docstring for the contract."""

    def __init__(
        self,
        api: Api,
        resource: Resource,
        *,
        transform: Callable[[Mapping[str, Any]], T],
        store: ReflectorStore[T],
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        page_size: int | None = None,
        watch_inactivity_timeout: float | None = None,
        backoff: Backoff | None = None,
        clock: Clock | None = None,  # FakeClock in tests
        name: str | None = None,
    ) -> None:
        self._api = api
        self._resource = resource
        self._transform = transform
        self._store = store
        self._namespace = namespace if resource.namespaced else None
        self._label_selector = label_selector
        self._field_selector = field_selector
        self._page_size = page_size
        self._watch_inactivity_timeout = watch_inactivity_timeout
        self._clock: Clock = clock or RealClock()
        self._backoff = backoff or Backoff(clock=self._clock)
        self.name = name or _describe_source(resource, self._namespace, label_selector)
        self._lock = threading.Lock()
        self._last_sync_resource_version = ""
        # Set when the server said our resourceVersion is gone: the next list asks for "".
        self._resource_version_gone = False
        self._stream: WatchStream | None = None  # the open watch, closed by the stop helper

    @property
    def last_sync_resource_version(self) -> str:
        """The resourceVersion of the last list, event or bookmark; ``""`` before the first list."""
        with self._lock:
            return self._last_sync_resource_version

    def run(self, stop: threading.Event) -> None:
        """List and watch until *stop* is set; never raises."""
        logger.debug("%s: reflector starting", self.name)
        closer = threading.Thread(
            target=self._close_on_stop,
            args=(stop,),
            name=f"reflector-stop {self.name}",
            daemon=True,
        )
        closer.start()
        while not stop.is_set():
            try:
                self._list_and_watch(stop)
            except GoneError as exc:
                logger.info("%s: resourceVersion expired (%s); listing again", self.name, exc)
            except (ApiError, TransportError) as exc:
                logger.warning("%s: list/watch failed: %s", self.name, exc)
            except Exception:  # the loop must survive anything a store or transform throws at it
                logger.exception("%s: list/watch failed unexpectedly", self.name)
            if stop.is_set():
                break
            self._clock.wait(stop, self._backoff.next())
        logger.debug("%s: reflector stopped", self.name)

    # One list, then watches until something needs a relist.

    def _list_and_watch(self, stop: threading.Event) -> None:
        self._list()
        while not stop.is_set():
            try:
                self._watch(stop)
            except (TransportError, TooManyRequestsError, _ShortWatchError) as exc:
                if stop.is_set():
                    return
                if isinstance(exc, _ShortWatchError):
                    logger.warning("%s: watch ended at once without events; backing off", self.name)
                else:
                    logger.info("%s: watch failed, reopening after a back-off: %s", self.name, exc)
                self._clock.wait(stop, self._backoff.next())

    def _list(self) -> None:
        resource_version = self._relist_resource_version()
        try:
            items, list_version = self._list_pages(resource_version)
        except GoneError:
            if resource_version == "":
                raise
            logger.info(
                "%s: resourceVersion %s expired; listing the latest", self.name, resource_version
            )
            with self._lock:
                self._resource_version_gone = True
            items, list_version = self._list_pages("")
        objects = [obj for raw in items if (obj := self._parse(raw)) is not None]
        self._store.replace(objects, list_version)
        with self._lock:
            self._resource_version_gone = False
            self._last_sync_resource_version = list_version
        logger.debug(
            "%s: listed %d objects at resourceVersion %s", self.name, len(objects), list_version
        )

    def _list_pages(self, resource_version: str) -> tuple[Sequence[Mapping[str, Any]], str]:
        result = self._api.list(
            self._resource,
            namespace=self._namespace,
            label_selector=self._label_selector,
            field_selector=self._field_selector,
            resource_version=resource_version,
            limit=self._page_size,
        )
        if not result.continue_token:
            return result.items, result.resource_version
        items = list(result.items)
        while result.continue_token:
            # Continuation pages read the first page's snapshot and may not name a resourceVersion.
            result = self._api.list(
                self._resource,
                namespace=self._namespace,
                label_selector=self._label_selector,
                field_selector=self._field_selector,
                limit=self._page_size,
                continue_token=result.continue_token,
            )
            items.extend(result.items)
        return items, result.resource_version

    def _watch(self, stop: threading.Event) -> None:
        """One watch, from open to end. Returns when the server ends it or *stop* is set."""
        timeout_seconds = random.randint(MIN_WATCH_TIMEOUT, MAX_WATCH_TIMEOUT)  # noqa: S311
        read_timeout = self._watch_inactivity_timeout or timeout_seconds + INACTIVITY_MARGIN
        try:
            stream = self._api.watch(
                self._resource,
                namespace=self._namespace,
                label_selector=self._label_selector,
                field_selector=self._field_selector,
                resource_version=self.last_sync_resource_version,
                timeout_seconds=timeout_seconds,
                allow_watch_bookmarks=True,
                read_timeout=read_timeout,
            )
        except GoneError:
            self._mark_gone()
            raise
        with self._lock:
            self._stream = stream
        started = self._clock.monotonic()
        events = 0
        try:
            if stop.is_set():
                return
            for event in stream:
                if stop.is_set():
                    return
                events += 1
                self._handle(event)
        except GoneError:
            self._mark_gone()
            raise
        except TransportError:
            if stop.is_set():
                return  # closing the stream may break it; that is how we asked it to end
            raise
        finally:
            with self._lock:
                self._stream = None
            stream.close()
        if events == 0 and self._clock.monotonic() - started < SHORT_WATCH and not stop.is_set():
            raise _ShortWatchError

    def _handle(self, event: WatchEvent) -> None:
        if event.type is EventType.ERROR:
            # The Api contract raises these; be safe if a stream hands one over anyway.
            raise api_error(0, event.object)
        metadata = event.object.get("metadata")
        resource_version = (
            metadata.get("resourceVersion") if isinstance(metadata, Mapping) else None
        )
        if event.type is not EventType.BOOKMARK:
            obj = self._parse(event.object)
            if obj is not None:
                if event.type is EventType.ADDED:
                    self._store.add(obj)
                elif event.type is EventType.MODIFIED:
                    self._store.update(obj)
                elif event.type is EventType.DELETED:
                    self._store.delete(obj)
        if isinstance(resource_version, str) and resource_version:
            with self._lock:
                self._last_sync_resource_version = resource_version

    def _parse(self, raw: Mapping[str, Any]) -> T | None:
        """*transform* applied to *raw*, or None (logged) if it fails or names no object."""
        try:
            obj = self._transform(raw)
        except Exception as exc:  # noqa: BLE001 -- a malformed object must not stop the reflector
            # The exception's message may quote field values (of a Secret, say): log only its type.
            logger.warning(
                "%s: skipping %s that could not be parsed (%s)",
                self.name,
                _describe_object(raw),
                type(exc).__name__,
            )
            return None
        if not obj.metadata.name:
            logger.warning(
                "%s: skipping %s without metadata.name", self.name, _describe_object(raw)
            )
            return None
        return obj

    def _relist_resource_version(self) -> str:
        with self._lock:
            if self._resource_version_gone:
                return ""
            return self._last_sync_resource_version or "0"

    def _mark_gone(self) -> None:
        with self._lock:
            self._resource_version_gone = True

    def _close_on_stop(self, stop: threading.Event) -> None:
        stop.wait()
        with self._lock:
            stream = self._stream
        if stream is not None:
            stream.close()


def _describe_source(resource: Resource, namespace: str | None, label_selector: str | None) -> str:
    where = f" in {namespace}" if namespace else ""
    selected = f" ({label_selector})" if label_selector else ""
    return f"{resource.group_resource}{where}{selected}"


def _describe_object(raw: object) -> str:
    """``Kind namespace/name`` from whatever of them *raw* carries; never anything else of it."""
    if not isinstance(raw, Mapping):
        return f"object of type {type(raw).__name__}"
    kind = raw.get("kind")
    metadata = raw.get("metadata")
    namespace = name = None
    if isinstance(metadata, Mapping):
        namespace, name = metadata.get("namespace"), metadata.get("name")
    parts = [kind if isinstance(kind, str) and kind else "object"]
    if isinstance(name, str) and name:
        parts.append(f"{namespace}/{name}" if isinstance(namespace, str) and namespace else name)
    return " ".join(parts)
