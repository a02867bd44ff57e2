"""`DeltaFIFO`: the queue between a reflector and the informer that consumes it.

Port of client-go ``tools/cache/delta_fifo.go``. The reflector writes what it sees (`DeltaFIFO.add`,
`update`, `delete`, and `replace` after every list); one consumer calls `DeltaFIFO.pop` and gets,
per key, every change since that key was last popped (its `Delta` values, oldest first). What it
promises:

- **Per-key accumulation, FIFO across keys.** A key is queued once, at its first change; later
  changes are appended to its deltas and do not move it. A popped key that changes again is queued
  again at the end.
- **Only consecutive deletions are merged.** Two ``Deleted`` deltas in a row become one (the real
  deletion wins over a `DeletedFinalStateUnknown`); nothing else is deduplicated, so an update
  between two deletions, or two updates, are all delivered.
- **`replace` is a full resynchronisation.** Each listed object gets a ``Replaced`` delta. Every key
  that is known (in *known_objects*, normally the informer's indexer) or still queued but absent
  from the list gets a ``Deleted`` delta carrying `DeletedFinalStateUnknown`: the object was deleted
  while we were not watching, and its final state is unknown; ``obj`` is the last state we had.
- **`has_synced`** turns true once the first `replace` (or any first write) has happened and every
  key queued by that first `replace` has been popped *and processed*: `pop` calls its *process*
  callback with the lock held, as client-go does, so a concurrent `replace` cannot miss an object
  that is being stored.
- **Deletes of unknown keys are dropped**: a ``Deleted`` for a key that is neither known nor queued
  is ignored, so handlers never see a delete without a preceding add.
- `resync` queues a ``Sync`` delta for every known object that has nothing queued.
- After `close`, `pop` drains what is queued, then raises `FIFOClosedError`.
"""

from __future__ import annotations

import builtins
import collections
import enum
import threading
from collections.abc import Callable, Iterable, Sequence
from typing import Generic, Protocol, TypeVar

import attrs

from mcm.api.meta import KubeObject, ObjectKey

T = TypeVar("T", bound=KubeObject)
T_co = TypeVar("T_co", bound=KubeObject, covariant=True)


class DeltaType(enum.StrEnum):
    """What happened to an object (client-go ``DeltaType``)."""

    ADDED = "Added"
    UPDATED = "Updated"
    DELETED = "Deleted"
    REPLACED = "Replaced"
    """Listed by a (re)list; the consumer treats it as an add or an update."""
    SYNC = "Sync"
    """A periodic resync of an object the consumer already has."""


@attrs.frozen
class DeletedFinalStateUnknown(Generic[T_co]):
    """An object that was deleted while the watch was down: found missing by a relist.

    *obj* is the last state the cache had (``None`` in the rare case it had none); it may be stale.
    """

    key: ObjectKey
    obj: T_co | None


@attrs.frozen
class Delta(Generic[T_co]):
    """One change: the object after it, or for ``Deleted`` the last state (possibly unknown)."""

    type: DeltaType
    object: T_co | DeletedFinalStateUnknown[T_co]


class FIFOClosedError(Exception):
    """`DeltaFIFO.pop` was called on a closed, empty queue."""


class KnownObjects(Protocol[T_co]):
    """What the FIFO needs of the consumer's store: which keys it holds, and their objects."""

    def list_keys(self) -> Sequence[ObjectKey]: ...

    def get_by_key(self, key: ObjectKey) -> T_co | None: ...


PopProcess = Callable[[ObjectKey, Sequence[Delta[T]]], None]
"""Called by `DeltaFIFO.pop` with a key and its deltas (oldest first), with the FIFO's lock held."""


class DeltaFIFO(Generic[T]):
    """A producer/consumer queue of per-key deltas; see the module docstring for its contract."""

    def __init__(self, *, known_objects: KnownObjects[T] | None = None) -> None:
        self._known_objects = known_objects
        self._cond = threading.Condition()
        # Invariant: a key is in `_queue` if and only if it is in `_items`, exactly once, and every
        # `_items` entry holds at least one delta.
        self._items: dict[ObjectKey, builtins.list[Delta[T]]] = {}
        self._queue: collections.deque[ObjectKey] = collections.deque()
        self._populated = False  # a first replace (or any write) has happened
        self._initial_population_count = 0  # keys of the first replace not yet popped and processed
        self._closed = False

    # What the reflector calls.

    def add(self, obj: T) -> None:
        with self._cond:
            self._populated = True
            self._queue_action(DeltaType.ADDED, obj)

    def update(self, obj: T) -> None:
        with self._cond:
            self._populated = True
            self._queue_action(DeltaType.UPDATED, obj)

    def delete(self, obj: T | DeletedFinalStateUnknown[T]) -> None:
        """Queue a deletion, unless the key is neither known nor queued."""
        key = _key_of(obj)
        with self._cond:
            self._populated = True
            known = (
                self._known_objects is not None and self._known_objects.get_by_key(key) is not None
            )
            if not known and key not in self._items:
                return
            self._queue_action(DeltaType.DELETED, obj)

    def replace(self, items: Iterable[T], resource_version: str = "") -> None:
        """Make the consumer's view equal *items*: ``Replaced`` for each, deletes for the rest."""
        with self._cond:
            listed: set[ObjectKey] = set()
            for obj in items:
                listed.add(obj.metadata.key)
                self._queue_action(DeltaType.REPLACED, obj)

            queued_deletions = 0
            for key, deltas in builtins.list(self._items.items()):
                if key in listed:
                    continue
                newest = deltas[-1].object
                last = newest.obj if isinstance(newest, DeletedFinalStateUnknown) else newest
                self._queue_action(DeltaType.DELETED, DeletedFinalStateUnknown(key, last))
                queued_deletions += 1

            if self._known_objects is not None:
                for key in self._known_objects.list_keys():
                    if key in listed or key in self._items:
                        continue
                    known = self._known_objects.get_by_key(key)
                    self._queue_action(DeltaType.DELETED, DeletedFinalStateUnknown(key, known))
                    queued_deletions += 1

            if not self._populated:
                self._populated = True
                self._initial_population_count = len(listed) + queued_deletions

    def resync(self) -> None:
        """Queue a ``Sync`` for every known object that has nothing queued."""
        if self._known_objects is None:
            return
        with self._cond:
            for key in self._known_objects.list_keys():
                if key in self._items:
                    continue
                obj = self._known_objects.get_by_key(key)
                if obj is not None:
                    self._queue_action(DeltaType.SYNC, obj)

    # What the consumer calls.

    def pop(self, process: PopProcess[T]) -> tuple[ObjectKey, Sequence[Delta[T]]]:
        """Block until a key is queued, remove it, and call *process* with it, holding the lock.

        Returns what was popped. An exception from *process* propagates; the key stays popped.
        Raises `FIFOClosedError` once the FIFO is closed and empty.
        """
        with self._cond:
            while not self._queue:
                if self._closed:
                    raise FIFOClosedError
                self._cond.wait()
            key = self._queue.popleft()
            deltas = self._items.pop(key)
            try:
                process(key, deltas)
            finally:
                if self._initial_population_count > 0:
                    self._initial_population_count -= 1
            return key, deltas

    def close(self) -> None:
        """Wake every blocked `pop`; once drained, `pop` raises `FIFOClosedError`."""
        with self._cond:
            self._closed = True
            self._cond.notify_all()

    @property
    def closed(self) -> bool:
        with self._cond:
            return self._closed

    def has_synced(self) -> bool:
        """True once the first population was popped and processed (see the module docstring)."""
        with self._cond:
            return self._populated and self._initial_population_count == 0

    # Introspection, for tests and debugging.

    def list_keys(self) -> Sequence[ObjectKey]:
        """The queued keys, in pop order."""
        with self._cond:
            return builtins.list(self._queue)

    def get_by_key(self, key: ObjectKey) -> Sequence[Delta[T]] | None:
        """The deltas queued for *key*, oldest first, or None."""
        with self._cond:
            deltas = self._items.get(key)
            return None if deltas is None else tuple(deltas)

    def __len__(self) -> int:
        with self._cond:
            return len(self._queue)

    # Internals; called with the lock held.

    def _queue_action(self, action: DeltaType, obj: T | DeletedFinalStateUnknown[T]) -> None:
        key = _key_of(obj)
        deltas = self._items.get(key)
        if deltas is None:
            self._items[key] = [Delta(action, obj)]
            self._queue.append(key)
        else:
            deltas.append(Delta(action, obj))
            _dedup_last_two(deltas)
        self._cond.notify()


def _key_of(obj: KubeObject | DeletedFinalStateUnknown[KubeObject]) -> ObjectKey:
    if isinstance(obj, DeletedFinalStateUnknown):
        return obj.key
    return obj.metadata.key


def _dedup_last_two(deltas: builtins.list[Delta[T]]) -> None:
    """Merge the two newest deltas if both are deletions, keeping the more informative one."""
    if len(deltas) < 2:
        return
    newer, older = deltas[-1], deltas[-2]
    if older.type is not DeltaType.DELETED or newer.type is not DeltaType.DELETED:
        return
    keep = newer if isinstance(older.object, DeletedFinalStateUnknown) else older
    deltas[-2:] = [keep]
