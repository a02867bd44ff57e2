"""`SharedInformerFactory`: one informer per watched collection, shared by a whole process.

Port of the generated client-go ``informers.SharedInformerFactory``. Controllers ask the factory for
the informers they need while they are built (`SharedInformerFactory.informer_for`), register their
handlers, then the process calls `SharedInformerFactory.start` once and `wait_for_cache_sync` before
its workers begin. What it promises:

- **One informer per (resource, namespace, label selector, field selector)**: asking twice returns
  the same object, so each collection is listed and watched once however many controllers read it.
  Asking again with a different *transform* is a programming error (`ValueError`): one cache holds
  one type.
- *namespace* defaults to the factory's; cluster-scoped resources ignore it.
- `start` starts, each on its own thread, every informer not started yet; it may be called again
  after more informers were requested.

`wait_for_cache_sync` (module level) is client-go's ``cache.WaitForCacheSync``: it polls the given
``has_synced`` functions (every 0.1 s, in real time) until all are true, *stop* is set, or *timeout*
real seconds pass.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar

import attrs

from mcm.api.meta import KubeObject
from mcm.cache.informer import SharedIndexInformer
from mcm.clock import Clock
from mcm.kube.protocol import Api
from mcm.kube.resources import Resource

logger = logging.getLogger(__name__)

T = TypeVar("T", bound=KubeObject)

SYNC_POLL_INTERVAL = 0.1
"""client-go's ``syncedPollPeriod``: how often `wait_for_cache_sync` checks."""


class _Default:
    """The type of `DEFAULT_NAMESPACE`."""

    def __repr__(self) -> str:
        return "DEFAULT_NAMESPACE"


DEFAULT_NAMESPACE = _Default()
"""`SharedInformerFactory.informer_for`'s *namespace* default: the factory's namespace."""


@attrs.frozen
class _InformerKey:
    resource: Resource
    namespace: str | None
    label_selector: str | None
    field_selector: str | None


class SharedInformerFactory:
    """Creates, shares and starts informers; see the module docstring."""

    def __init__(
        self,
        api: Api,
        *,
        namespace: str | None = None,
        resync_period: float = 0,
        clock: Clock | None = None,  # FakeClock in tests
    ) -> None:
        self._api = api
        self.namespace = namespace
        self._resync_period = resync_period
        self._clock = clock
        self._lock = threading.Lock()
        self._informers: dict[_InformerKey, SharedIndexInformer[Any]] = {}
        self._threads: dict[_InformerKey, threading.Thread] = {}

    def informer_for(
        self,
        resource: Resource,
        transform: Callable[[Mapping[str, Any]], T],
        *,
        namespace: str | _Default | None = DEFAULT_NAMESPACE,
        label_selector: str | None = None,
        field_selector: str | None = None,
    ) -> SharedIndexInformer[T]:
        """The shared informer for this collection, created on first use.

        *namespace* ``None`` means all namespaces; left out, it is the factory's namespace.
        """
        if isinstance(namespace, _Default):
            namespace = self.namespace
        key = _InformerKey(
            resource,
            namespace if resource.namespaced else None,
            label_selector or None,
            field_selector or None,
        )
        with self._lock:
            informer = self._informers.get(key)
            if informer is None:
                informer = SharedIndexInformer(
                    self._api,
                    resource,
                    transform,
                    namespace=key.namespace,
                    label_selector=key.label_selector,
                    field_selector=key.field_selector,
                    resync_period=self._resync_period,
                    clock=self._clock,
                )
                self._informers[key] = informer
            elif informer.transform != transform:
                raise ValueError(
                    f"{informer.name}: informer exists with transform {informer.transform!r},"
                    f" not {transform!r}"
                )
            typed: SharedIndexInformer[T] = informer
            return typed

    def start(self, stop: threading.Event) -> None:
        """Start every informer not started yet, each running until *stop* is set."""
        with self._lock:
            for key, informer in self._informers.items():
                if key in self._threads:
                    continue
                thread = threading.Thread(
                    target=informer.run, args=(stop,), name=f"informer {informer.name}", daemon=True
                )
                self._threads[key] = thread
                thread.start()

    def wait_for_cache_sync(
        self, stop: threading.Event, timeout: float | None = None
    ) -> dict[Resource, bool]:
        """Wait for every started informer to sync; per resource, whether all its informers did."""
        with self._lock:
            started = [self._informers[key] for key in self._threads]
        wait_for_cache_sync(stop, *(i.has_synced for i in started), timeout=timeout)
        result: dict[Resource, bool] = {}
        for informer in started:
            result[informer.resource] = (
                result.get(informer.resource, True) and informer.has_synced()
            )
        return result

    def join(self, timeout: float | None = None) -> bool:
        """Wait (real seconds) for started informers to return after stop; True if they all did."""
        deadline = None if timeout is None else time.monotonic() + timeout
        with self._lock:
            threads = list(self._threads.values())
        for thread in threads:
            thread.join(None if deadline is None else max(0.0, deadline - time.monotonic()))
        return not any(thread.is_alive() for thread in threads)


def wait_for_cache_sync(
    stop: threading.Event, *has_synced: Callable[[], bool], timeout: float | None = None
) -> bool:
    """True once every *has_synced* returns True; False if *stop* or *timeout* comes first."""
    deadline = None if timeout is None else time.monotonic() + timeout
    while True:
        if all(synced() for synced in has_synced):
            return True
        if stop.is_set():
            return False
        wait = SYNC_POLL_INTERVAL
        if deadline is not None:
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                logger.warning("caches did not sync within %.1f s", timeout)
                return False
            wait = min(wait, remaining)
        if stop.wait(wait):
            return False
