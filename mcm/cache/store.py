"""`Indexer`: the thread-safe, indexed object cache behind every informer and lister.

Port of client-go ``tools/cache`` ``store.go``, ``index.go`` and ``thread_safe_store.go``, collapsed
into one class because there is only one implementation. What it promises:

- Objects are keyed by ``metadata.key`` (an `ObjectKey`). Every method may be called from any
  thread; each call sees and leaves a consistent state (one lock guards the items and every index
  together).
- Objects are stored and handed out as they are. The objects this package caches are frozen (parsed
  once at the informer), which is how client-go's rule "you must not modify anything returned by Get
  or List" is kept here without copying.
- An *index* maps a string value to the keys of the objects whose index function returned it. The
  namespace index (`NAMESPACE_INDEX`) is always present; more can be added with
  `Indexer.add_indexers`, before or after objects are stored. Index functions must be pure and fast:
  they run under the lock on every write. One that raises leaves the store unchanged and the
  exception propagates to the writer.
- ``list``-style results come back in a stable order: insertion order of the keys.
"""

from __future__ import annotations

import builtins
import threading
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Generic, TypeVar

from mcm.api.meta import KubeObject, ObjectKey

T = TypeVar("T", bound=KubeObject)

IndexFunc = Callable[[T], Sequence[str]]
"""The values an object is indexed under; an empty sequence leaves it out of the index."""

NAMESPACE_INDEX = "namespace"
"""The built-in index: ``metadata.namespace`` (``""`` for cluster-scoped objects)."""


def namespace_index(obj: KubeObject) -> Sequence[str]:
    """The index function behind `NAMESPACE_INDEX`."""
    return (obj.metadata.namespace,)


class Indexer(Generic[T]):
    """A thread-safe map ``ObjectKey -> T`` with secondary indices (client-go ``cache.Indexer``)."""

    def __init__(self, indexers: Mapping[str, IndexFunc[T]] | None = None) -> None:
        self._lock = threading.Lock()
        self._items: dict[ObjectKey, T] = {}
        # Invariant: for every index name in `_indexers` there is an entry in `_indices`, and
        # `_indices[name][value]` holds exactly the keys of the items whose index function returned
        # `value` (never an empty dict: a value with no keys left is removed). Inner dicts are
        # ordered sets.
        self._indexers: dict[str, IndexFunc[T]] = {NAMESPACE_INDEX: namespace_index}
        self._indices: dict[str, dict[str, dict[ObjectKey, None]]] = {NAMESPACE_INDEX: {}}
        if indexers:
            self.add_indexers(indexers)

    # Store.

    def add(self, obj: T) -> None:
        """Insert *obj*, or replace the object stored under its key."""
        self.update(obj)

    def update(self, obj: T) -> None:
        """Store *obj* under its key, replacing (and re-indexing) any previous object."""
        key = obj.metadata.key
        with self._lock:
            values = self._index_values(obj)
            old = self._items.get(key)
            if old is not None:
                self._unindex(key, self._index_values(old))
            self._items[key] = obj
            self._index(key, values)

    def delete(self, obj: T) -> None:
        """Remove the object stored under *obj*'s key; a missing key is not an error."""
        self.delete_by_key(obj.metadata.key)

    def delete_by_key(self, key: ObjectKey) -> None:
        """Remove the object stored under *key*; a missing key is not an error."""
        with self._lock:
            old = self._items.pop(key, None)
            if old is not None:
                self._unindex(key, self._index_values(old))

    def get(self, obj: T) -> T | None:
        """The stored object with *obj*'s key (client-go ``Get``)."""
        return self.get_by_key(obj.metadata.key)

    def get_by_key(self, key: ObjectKey) -> T | None:
        with self._lock:
            return self._items.get(key)

    def list(self) -> Sequence[T]:
        """Every stored object."""
        with self._lock:
            return builtins.list(self._items.values())

    def list_keys(self) -> Sequence[ObjectKey]:
        with self._lock:
            return builtins.list(self._items)

    def replace(self, items: Iterable[T]) -> None:
        """Make the store hold exactly *items* (the last of a key wins), rebuilding every index."""
        new_items = {obj.metadata.key: obj for obj in items}
        with self._lock:
            indices: dict[str, dict[str, dict[ObjectKey, None]]] = {}
            for name, func in self._indexers.items():
                indices[name] = _build_index(func, new_items)
            self._items = new_items
            self._indices = indices

    def __len__(self) -> int:
        with self._lock:
            return len(self._items)

    def __contains__(self, key: object) -> bool:
        with self._lock:
            return key in self._items

    # Indexer.

    def add_indexers(self, indexers: Mapping[str, IndexFunc[T]]) -> None:
        """Add index functions; objects already stored are indexed at once. Names must be new."""
        with self._lock:
            clash = sorted(set(indexers) & set(self._indexers))
            if clash:
                raise ValueError(f"indexers already exist: {', '.join(clash)}")
            built = {name: _build_index(func, self._items) for name, func in indexers.items()}
            self._indexers.update(indexers)
            self._indices.update(built)

    def by_index(self, index_name: str, value: str) -> Sequence[T]:
        """The objects the index *index_name* files under *value* (`KeyError` for no such index)."""
        with self._lock:
            keys = self._index_for(index_name).get(value, {})
            return [self._items[key] for key in keys]

    def index_keys(self, index_name: str, value: str) -> Sequence[ObjectKey]:
        """The keys of the objects indexed under *value* by the index *index_name*."""
        with self._lock:
            return builtins.list(self._index_for(index_name).get(value, {}))

    def index_values(self, index_name: str) -> Sequence[str]:
        """Every value at least one object is indexed under (client-go ``ListIndexFuncValues``)."""
        with self._lock:
            return builtins.list(self._index_for(index_name))

    # Internals; all called with the lock held.

    def _index_for(self, index_name: str) -> dict[str, dict[ObjectKey, None]]:
        try:
            return self._indices[index_name]
        except KeyError:
            raise KeyError(f"no index named {index_name!r}") from None

    def _index_values(self, obj: T) -> dict[str, Sequence[str]]:
        return {name: func(obj) for name, func in self._indexers.items()}

    def _index(self, key: ObjectKey, values: Mapping[str, Sequence[str]]) -> None:
        for name, index_values in values.items():
            index = self._indices[name]
            for value in index_values:
                index.setdefault(value, {})[key] = None

    def _unindex(self, key: ObjectKey, values: Mapping[str, Sequence[str]]) -> None:
        for name, index_values in values.items():
            index = self._indices[name]
            for value in index_values:
                keys = index.get(value)
                if keys is None:
                    continue
                keys.pop(key, None)
                if not keys:
                    del index[value]


def _build_index(
    func: IndexFunc[T], items: Mapping[ObjectKey, T]
) -> dict[str, dict[ObjectKey, None]]:
    index: dict[str, dict[ObjectKey, None]] = {}
    for key, obj in items.items():
        for value in func(obj):
            index.setdefault(value, {})[key] = None
    return index
