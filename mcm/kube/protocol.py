"""`Api`: the one seam between ``mcm`` and a Kubernetes API server.

Everything above this module (informers, controllers, drain, the kubelet simulator) talks to an API
server through `Api` and nothing else, so the same code runs against `mcm.kube.client.KubeClient`
(HTTP, a real server) and `mcm.testing.FakeApiServer` (in memory, for unit tests).

The contract, which both implementations keep:

- Objects travel as plain JSON dicts exactly as the server sends them (camelCase, no model classes).
  Every returned dict is the caller's own copy.
- ``namespace=None`` on a namespaced resource means all namespaces for `Api.list` and `Api.watch`;
  the other verbs need a namespace for namespaced resources and ignore it for cluster-scoped ones.
- Errors are the `mcm.errors.ApiError` subclasses, carrying the server's message; connection
  failures are `mcm.errors.TransportError`.
- `Api.watch` returns a `WatchStream`. Iterating it yields `WatchEvent` values in the server's
  order; an ``ERROR`` event is raised as the matching `ApiError` (``410``/``Expired`` as
  `mcm.errors.GoneError`) and ends the stream. The stream ends normally when the server-side timeout
  expires or `WatchStream.close` is called; it raises `mcm.errors.TransportError` when no byte
  arrives for *read_timeout* seconds.
"""

from __future__ import annotations

import enum
from collections.abc import Iterator, Mapping, Sequence
from typing import Any, Protocol

import attrs

from mcm.kube.resources import Resource

JSON = dict[str, Any]
"""An object as the API server sends it."""


class PatchType(enum.StrEnum):
    """Patch flavours, by the Content-Type that selects them."""

    MERGE = "application/merge-patch+json"
    JSON = "application/json-patch+json"
    STRATEGIC = "application/strategic-merge-patch+json"


class EventType(enum.StrEnum):
    """Watch event types, as sent on the wire."""

    ADDED = "ADDED"
    MODIFIED = "MODIFIED"
    DELETED = "DELETED"
    BOOKMARK = "BOOKMARK"
    ERROR = "ERROR"


@attrs.frozen
class WatchEvent:
    """One event of a watch. For ``BOOKMARK`` only ``object.metadata.resourceVersion`` is
    meaningful."""

    type: EventType
    object: JSON


@attrs.frozen
class ObjectList:
    """The result of a list call."""

    items: Sequence[JSON]
    resource_version: str
    """The list's ``metadata.resourceVersion``: where a watch that follows it starts."""
    continue_token: str = ""
    """Non-empty when *limit* cut the list short; pass it back to get the next page."""


@attrs.frozen
class Preconditions:
    """Delete preconditions: the delete fails with `mcm.errors.ConflictError` when one does not
    hold."""

    uid: str | None = None
    resource_version: str | None = None


class WatchStream(Protocol):
    """An open watch; iterate it for events, close it to stop early (from any thread)."""

    def __iter__(self) -> Iterator[WatchEvent]: ...

    def close(self) -> None: ...


class Api(Protocol):
    """Raw-JSON access to any resource of one API server."""

    def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> JSON: ...

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
    ) -> ObjectList: ...

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
    ) -> WatchStream: ...

    def create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON:
        """Create *body*; ``metadata.generateName`` works. Namespace defaults to ``body``'s."""
        ...

    def update(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        """Replace the object named in *body*; ``metadata.resourceVersion`` is a precondition."""
        ...

    def update_status(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON: ...

    def patch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
    ) -> JSON:
        """Patch one object; a JSON patch is a list of operations, the others are dicts."""
        ...

    def patch_status(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> JSON: ...

    def delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        preconditions: Preconditions | None = None,
        propagation_policy: str | None = None,
        grace_period_seconds: int | None = None,
    ) -> JSON | None:
        """Delete one object.

        Returns the object when the server answers with one: it lingers (finalizers, a grace
        period), or, for kinds such as pods, it is the final state of an object already gone.
        Returns None when the server answers with a ``Status`` (most immediate deletions). Callers
        that must know whether the object still exists check ``metadata.deletionTimestamp`` or
        get it again.
        """
        ...

    def evict(
        self,
        name: str,
        *,
        namespace: str,
        grace_period_seconds: int | None = None,
        preconditions: Preconditions | None = None,
    ) -> None:
        """POST a policy/v1 Eviction; a PodDisruptionBudget refusal is `TooManyRequestsError`."""
        ...
