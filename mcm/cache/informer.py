"""`SharedIndexInformer`: one cache of one resource, shared by every controller that reads it.

Port of client-go ``tools/cache/shared_informer.go`` and the parts of ``controller.go`` it uses. An
informer is a `Reflector` (list + watch, objects parsed by *transform*) feeding a `DeltaFIFO`, one
loop popping the FIFO into an `Indexer`, and one delivery thread per registered handler. What it
promises:

- **The cache is eventually consistent with the server**, and reads never block on the network:
  `SharedIndexInformer.get_indexer` and `SharedIndexInformer.lister` serve the local copy.
- **Objects are parsed once**, by *transform*, before they reach the cache; handlers and listers get
  the same immutable objects. Handlers must not try to change them.
- **Handlers see every change, in order, per handler.** Each handler has its own unbounded buffer
  and its own thread, so a slow handler delays only itself. Handlers should be quick (compute a key,
  add it to a work queue): `run` waits for a handler that is still running when *stop* is set, and
  notifications not yet delivered at that point are dropped.
- **Handlers added after `run` started** first get an ``on_add`` for every object already cached.
- ``on_update(old, new)`` with **equal resourceVersions** means a resync: it is delivered only by
  the periodic resync (every *resync_period* seconds, on the injected clock; 0 disables it), for
  every cached object. A relist that finds an object unchanged delivers nothing.
- **Deletions missed while the watch was down** are delivered as
  ``on_delete(DeletedFinalStateUnknown)`` once a relist finds the object gone; its ``obj`` is the
  last state the cache had.
- `has_synced` is true once the first list has been stored in the cache (not necessarily delivered
  to every handler yet); `wait_for_cache_sync` in `mcm.cache.factory` waits for it.

Durations are float seconds.
"""

from __future__ import annotations

import builtins
import collections
import logging
import threading
from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, Protocol, TypeVar

import attrs

from mcm.api.meta import KubeObject, ObjectKey
from mcm.cache.backoff import Backoff
from mcm.cache.delta_fifo import (
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    DeltaType,
    FIFOClosedError,
)
from mcm.cache.listers import Lister
from mcm.cache.reflector import Reflector
from mcm.cache.store import Indexer, IndexFunc
from mcm.clock import Clock, RealClock
from mcm.kube.protocol import Api
from mcm.kube.resources import Resource

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=KubeObject)
T_contra = TypeVar("T_contra", bound=KubeObject, contravariant=True)


class ResourceEventHandler(Protocol[T_contra]):
    """Receives an informer's notifications on a thread of its own (``ResourceEventHandler``)."""

    def on_add(self, obj: T_contra) -> None: ...

    def on_update(self, old: T_contra, new: T_contra) -> None:
        """*new* replaced *old*; equal resourceVersions mean a periodic resync."""
        ...

    def on_delete(self, obj: T_contra | DeletedFinalStateUnknown[T_contra]) -> None:
        """*obj* is gone; a `DeletedFinalStateUnknown` if the deletion itself was missed."""
        ...


def _ignore(*_: object) -> None:
    return None


@attrs.frozen(kw_only=True)
class FuncHandler(Generic[T]):
    """A `ResourceEventHandler` from plain functions; those left out ignore their notification."""

    on_add: Callable[[T], None] = _ignore
    on_update: Callable[[T, T], None] = _ignore
    on_delete: Callable[[T | DeletedFinalStateUnknown[T]], None] = _ignore


@attrs.frozen
class _Added(Generic[T]):
    obj: T

    def deliver(self, handler: ResourceEventHandler[T]) -> None:
        handler.on_add(self.obj)


@attrs.frozen
class _Updated(Generic[T]):
    old: T
    new: T

    def deliver(self, handler: ResourceEventHandler[T]) -> None:
        handler.on_update(self.old, self.new)


@attrs.frozen
class _Deleted(Generic[T]):
    obj: T | DeletedFinalStateUnknown[T]

    def deliver(self, handler: ResourceEventHandler[T]) -> None:
        handler.on_delete(self.obj)


_Notification = _Added[T] | _Updated[T] | _Deleted[T]


class _Listener(Generic[T]):
    """A handler, its unbounded buffer and its delivery thread (client-go ``processorListener``)."""

    def __init__(self, handler: ResourceEventHandler[T], name: str) -> None:
        self._handler = handler
        self._name = name
        self._cond = threading.Condition()
        self._pending: collections.deque[_Notification[T]] = collections.deque()
        self._stopped = False
        self._thread: threading.Thread | None = None

    def add(self, notification: _Notification[T]) -> None:
        with self._cond:
            if self._stopped:
                return
            self._pending.append(notification)
            self._cond.notify()

    def start(self) -> None:
        self._thread = threading.Thread(target=self._run, name=self._name, daemon=True)
        self._thread.start()

    def stop(self) -> None:
        with self._cond:
            self._stopped = True
            self._pending.clear()
            self._cond.notify()

    def join(self) -> None:
        if self._thread is not None:
            self._thread.join()

    def _run(self) -> None:
        while True:
            with self._cond:
                while not self._pending and not self._stopped:
                    self._cond.wait()
                if self._stopped:
                    return
                notification = self._pending.popleft()
            try:
                notification.deliver(self._handler)
            except Exception:  # one failing notification must not silence the handler
                logger.exception("%s: event handler failed", self._name)


class SharedIndexInformer(Generic[T]):
    """A shared, indexed cache of one resource; see the module docstring for the contract."""

    def __init__(
        self,
        api: Api,
        resource: Resource,
        transform: Callable[[Mapping[str, Any]], T],
        *,
        namespace: str | None = None,
        label_selector: str | None = None,
        field_selector: str | None = None,
        resync_period: float = 0,
        indexers: Mapping[str, IndexFunc[T]] | None = None,
        clock: Clock | None = None,  # FakeClock in tests
        backoff: Backoff | None = None,  # a jitter-free one in tests
        watch_inactivity_timeout: float | None = None,
        page_size: int | None = None,
    ) -> None:
        self.resource = resource
        self.transform = transform
        self.namespace = namespace if resource.namespaced else None
        self.label_selector = label_selector
        self.field_selector = field_selector
        self._resync_period = resync_period
        self._clock: Clock = clock or RealClock()
        self._indexer: Indexer[T] = Indexer(indexers)
        self._lister = Lister(self._indexer)
        self._fifo: DeltaFIFO[T] = DeltaFIFO(known_objects=self._indexer)
        self._reflector = Reflector(
            api,
            resource,
            transform=transform,
            store=self._fifo,
            namespace=self.namespace,
            label_selector=label_selector,
            field_selector=field_selector,
            page_size=page_size,
            watch_inactivity_timeout=watch_inactivity_timeout,
            backoff=backoff,
            clock=self._clock,
        )
        self.name = self._reflector.name
        # Held while deltas are applied and distributed, and while a late handler joins: a handler
        # added after start sees the cache as of one point in time, then every change after it
        # (client-go `blockDeltas`).
        self._lock = threading.Lock()
        self._listeners: builtins.list[_Listener[T]] = []
        self._started = False
        self._stopped = False

    # Registration and reads.

    def add_event_handler(self, handler: ResourceEventHandler[T]) -> None:
        """Register *handler*; after start it first gets ``on_add`` for every cached object."""
        with self._lock:
            if self._stopped:
                raise RuntimeError(f"{self.name}: informer has stopped")
            listener = _Listener(handler, f"informer {self.name} handler {len(self._listeners)}")
            self._listeners.append(listener)
            if self._started:
                for obj in self._indexer.list():
                    listener.add(_Added(obj))
                listener.start()

    def add_indexers(self, indexers: Mapping[str, IndexFunc[T]]) -> None:
        """Add indices to the cache; allowed before and after start."""
        self._indexer.add_indexers(indexers)

    def get_indexer(self) -> Indexer[T]:
        return self._indexer

    @property
    def lister(self) -> Lister[T]:
        return self._lister

    def has_synced(self) -> bool:
        """True once the first list is in the cache."""
        return self._fifo.has_synced()

    @property
    def last_sync_resource_version(self) -> str:
        return self._reflector.last_sync_resource_version

    @property
    def started(self) -> bool:
        with self._lock:
            return self._started

    # Running.

    def run(self, stop: threading.Event) -> None:
        """Fill the cache and deliver notifications until *stop* is set. Runs once per informer."""
        with self._lock:
            if self._started:
                raise RuntimeError(f"{self.name}: informer already started")
            self._started = True
            for listener in self._listeners:
                listener.start()
        logger.info("%s: informer starting", self.name)
        threads = [
            threading.Thread(
                target=self._run_reflector, args=(stop,), name=f"reflector {self.name}", daemon=True
            )
        ]
        if self._resync_period > 0:
            threads.append(
                threading.Thread(
                    target=self._run_resync, args=(stop,), name=f"resync {self.name}", daemon=True
                )
            )
        for thread in threads:
            thread.start()
        try:
            while not stop.is_set():
                try:
                    self._fifo.pop(self._handle_deltas)
                except FIFOClosedError:
                    break
                except Exception:  # a bad index function, say; the next object may be fine
                    logger.exception("%s: failed to process a change", self.name)
        finally:
            self._fifo.close()
            for thread in threads:
                thread.join()
            with self._lock:
                self._stopped = True
                listeners = builtins.list(self._listeners)
            for listener in listeners:
                listener.stop()
            for listener in listeners:
                listener.join()
            logger.info("%s: informer stopped", self.name)

    def _run_reflector(self, stop: threading.Event) -> None:
        try:
            self._reflector.run(stop)
        finally:
            self._fifo.close()  # wakes `run`'s pop once stop is set

    def _run_resync(self, stop: threading.Event) -> None:
        while not self._clock.wait(stop, self._resync_period):
            self._fifo.resync()

    def _handle_deltas(self, key: ObjectKey, deltas: Sequence[Delta[T]]) -> None:
        """Apply one key's deltas to the cache and tell the handlers (``processDeltas``)."""
        with self._lock:
            for delta in deltas:
                obj = delta.object
                if delta.type is DeltaType.DELETED:
                    self._indexer.delete_by_key(key)
                    self._distribute(_Deleted(obj))
                    continue
                if isinstance(obj, DeletedFinalStateUnknown):  # only ever carried by deletions
                    continue
                old = self._indexer.get_by_key(key)
                self._indexer.update(obj)
                if old is None:
                    self._distribute(_Added(obj))
                elif (
                    delta.type is DeltaType.SYNC
                    or old.metadata.resource_version != obj.metadata.resource_version
                ):
                    self._distribute(_Updated(old, obj))

    def _distribute(self, notification: _Notification[T]) -> None:
        for listener in self._listeners:
            listener.add(notification)
