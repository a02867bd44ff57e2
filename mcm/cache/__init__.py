"""Informers, caches and listers: a port of client-go ``tools/cache``.

    API server --list/watch--> Reflector --objects--> DeltaFIFO --pop--> SharedIndexInformer
                                                                         |-> Indexer <- Lister
                                                                         '-> handlers, a thread each

A `SharedInformerFactory` hands out one `SharedIndexInformer` per watched collection; controllers
register a `ResourceEventHandler` on it and read through its `Lister`. Objects are parsed once, by
the informer's *transform*, into immutable objects (`mcm.api.meta.KubeObject`), and shared from then
on. Each module states its own contract: `store` (the indexed cache), `delta_fifo` (the queue),
`reflector` (list, watch, back-off, 410 handling), `informer`, `factory`, `listers`, `backoff`.
"""

from mcm.cache.backoff import Backoff
from mcm.cache.delta_fifo import (
    DeletedFinalStateUnknown,
    Delta,
    DeltaFIFO,
    DeltaType,
    FIFOClosedError,
)
from mcm.cache.factory import DEFAULT_NAMESPACE, SharedInformerFactory, wait_for_cache_sync
from mcm.cache.informer import FuncHandler, ResourceEventHandler, SharedIndexInformer
from mcm.cache.listers import Lister
from mcm.cache.reflector import Reflector, ReflectorStore
from mcm.cache.store import NAMESPACE_INDEX, Indexer, IndexFunc, namespace_index

__all__ = [
    "DEFAULT_NAMESPACE",
    "NAMESPACE_INDEX",
    "Backoff",
    "DeletedFinalStateUnknown",
    "Delta",
    "DeltaFIFO",
    "DeltaType",
    "FIFOClosedError",
    "FuncHandler",
    "IndexFunc",
    "Indexer",
    "Lister",
    "Reflector",
    "ReflectorStore",
    "ResourceEventHandler",
    "SharedIndexInformer",
    "SharedInformerFactory",
    "namespace_index",
    "wait_for_cache_sync",
]
