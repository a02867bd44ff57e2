"""`Lister`: typed, read-only access to an informer's cache.

Port of client-go ``tools/cache/listers.go`` (and the generated listers built on it). A lister never
talks to the API server: it reads the `Indexer` an informer fills, so what it returns is as fresh as
the informer's watch. Objects come back exactly as cached, immutable and shared; a caller that wants
to change one builds a patch from it.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Generic, TypeVar

from mcm.api.meta import KubeObject, ObjectKey
from mcm.cache.store import NAMESPACE_INDEX, Indexer

T = TypeVar("T", bound=KubeObject)


class Lister(Generic[T]):
    """Reads of one resource's cache, by key, namespace, labels or any index."""

    def __init__(self, indexer: Indexer[T]) -> None:
        self._indexer = indexer

    def get(self, namespace_or_name: str, name: str | None = None, /) -> T | None:
        """``get(namespace, name)`` for a namespaced object, ``get(name)`` for a cluster-scoped."""
        if name is None:
            return self._indexer.get_by_key(ObjectKey("", namespace_or_name))
        return self._indexer.get_by_key(ObjectKey(namespace_or_name, name))

    def get_by_key(self, key: ObjectKey) -> T | None:
        return self._indexer.get_by_key(key)

    def list(
        self, namespace: str | None = None, selector: Mapping[str, str] | None = None
    ) -> Sequence[T]:
        """Objects in *namespace* (all if None) whose labels include every pair of *selector*."""
        objects = (
            self._indexer.list()
            if namespace is None
            else self._indexer.by_index(NAMESPACE_INDEX, namespace)
        )
        if not selector:
            return objects
        return [obj for obj in objects if _matches(obj.metadata.labels, selector)]

    def by_index(self, index_name: str, value: str) -> Sequence[T]:
        """Objects the index *index_name* files under *value* (`KeyError` for an unknown index)."""
        return self._indexer.by_index(index_name, value)


def _matches(labels: Mapping[str, str], selector: Mapping[str, str]) -> bool:
    return all(labels.get(k) == v for k, v in selector.items())
