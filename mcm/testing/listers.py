"""`ApiLister`: a lister that reads straight through an `Api`, for reconciler unit tests.

Production listers read an informer's cache, which lags the server by a watch event. Unit tests
that call ``reconcile(key)`` directly want no threads and no lag, so this lister answers every
read from the API (normally a `mcm.testing.FakeApiServer`), parsing with the model's
``from_dict`` exactly as an informer would. It satisfies `mcm.controller.context.ObjectLister`.
Its reads are recorded by the fake like any other (filter them with ``reads=False``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import Any, Generic, TypeVar

from mcm.api.meta import KubeObject, ObjectKey, label_selector_string
from mcm.errors import NotFoundError
from mcm.kube.protocol import Api
from mcm.kube.resources import Resource

T = TypeVar("T", bound=KubeObject)


class ApiLister(Generic[T]):
    """Lister reads served by *api*; see the module docstring."""

    def __init__(
        self, api: Api, resource: Resource, transform: Callable[[Mapping[str, Any]], T]
    ) -> None:
        self._api = api
        self._resource = resource
        self._transform = transform

    def get(self, namespace_or_name: str, name: str | None = None, /) -> T | None:
        if name is None:
            return self.get_by_key(ObjectKey("", namespace_or_name))
        return self.get_by_key(ObjectKey(namespace_or_name, name))

    def get_by_key(self, key: ObjectKey) -> T | None:
        try:
            raw = self._api.get(
                self._resource,
                key.name,
                namespace=key.namespace if self._resource.namespaced else None,
            )
        except NotFoundError:
            return None
        return self._transform(raw)

    def list(
        self, namespace: str | None = None, selector: Mapping[str, str] | None = None
    ) -> Sequence[T]:
        result = self._api.list(
            self._resource,
            namespace=namespace if self._resource.namespaced else None,
            label_selector=label_selector_string(selector) if selector else None,
        )
        return [self._transform(item) for item in result.items]
