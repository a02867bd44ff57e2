"""`FakeApiServer`: an honest in-memory API server for unit tests.

It implements `mcm.kube.protocol.Api`, so informers, controllers, drain and the kubelet simulator
run against it unchanged. It is modelled on client-go's ``FakeControllerSource`` (drop and reset
watches, writes that "forget" their event) and, unlike controller-runtime's fake client (whose own
docs admit that "Generation and ResourceVersion don't behave properly"), it keeps the rules a real
kube-apiserver keeps, because controllers are built on them:

**Storage and versions.** Any `Resource` (core or custom, namespaced or cluster-scoped) has its own
store. One global ``resourceVersion`` counter is bumped by every effective write and written, as a
string, into the object. A write that changes nothing (an update or patch whose result equals the
stored object) stores nothing, bumps nothing and sends no event, as the real server's storage layer
does. ``create`` sets ``uid``, ``creationTimestamp`` (from the injected clock) and a generation of
1, honours ``metadata.generateName`` (five random characters), and refuses a duplicate name
(`AlreadyExistsError`) or a ``resourceVersion`` in the body (500, as the real server). Missing
objects are `NotFoundError`. A namespaced resource's single-object verbs without a namespace (and an
update without a name) raise `ValueError` and send nothing, as the real client does.

**Optimistic concurrency.** ``update`` with a stale ``metadata.resourceVersion`` is a
`ConflictError`. ``update`` without one is an unconditional update for built-in kinds and
`InvalidError` (422, "must be specified for an update") for custom resources, exactly the real
server's split (``AllowUnconditionalUpdate``). A patch is unconditional unless it sets
``metadata.resourceVersion``, which then must be current. A ``metadata.uid`` that differs from the
stored one is a `ConflictError` too.

**Generation.** ``metadata.generation`` is bumped when anything outside ``metadata`` (and outside
``status`` for resources with a status subresource) changes, never by a status or metadata-only
write. As on the real server it is also bumped once when deletion starts (``deletionTimestamp``
first set).

**Status subresource.** For the resources listed in *status_subresources* (default:
`DEFAULT_STATUS_SUBRESOURCES`: machines, machine sets and machine deployments, but not machine
classes, plus nodes, pods, PDBs and the other built-in kinds with a status), ``update``/``patch`` of
the main resource keep the stored ``status`` whatever the body says, and
``update_status``/``patch_status`` change ``status`` only. ``create`` drops ``status`` for them
(pods start as ``phase: Pending``, namespaces as ``Active``, PDBs with zeroed counters; nodes keep
theirs, as the real strategies do). For other resources the status verbs are `NotFoundError`, and
``status`` is ordinary data. Use `FakeApiServer.seed` to put objects with a status in place.

**Deletion.** An object with finalizers is not removed: ``deletionTimestamp`` (and
``deletionGracePeriodSeconds: 0``) are set and the object is returned. While it is being deleted,
updates may not add finalizers (422); the write that leaves it without finalizers deletes it
(``DELETED`` event; the reply is the object as last stored, as the real server's).
``propagation_policy`` ``Foreground`` and ``Orphan`` add the ``foregroundDeletion`` / ``orphan``
finalizer as the real server does; with no garbage collector here, such an object stays until a test
removes the finalizer. Delete preconditions (uid, resourceVersion) that do not hold are
`ConflictError`.

**Pods are deleted gracefully**, as ``pkg/registry/core/pod/strategy.go`` does: the grace period is
*grace_period_seconds*, else ``spec.terminationGracePeriodSeconds``, else 30; it is 0 when
``spec.nodeName`` is empty or the phase is ``Succeeded``/``Failed``. Deletion sets
``deletionTimestamp`` to now + grace period and ``deletionGracePeriodSeconds`` (a ``MODIFIED``
event); with a grace period of 0 and no finalizers the pod is then removed (``DELETED``). Otherwise
it stays (nothing here plays the kubelet) until a later delete shortens the period to 0, which is
what a kubelet does; a later delete may only shorten the period, and removing finalizers does not
end a graceful deletion.

**Eviction** (`FakeApiServer.evict`) follows ``pkg/registry/core/pod/storage/eviction.go``: pods
that are ``Pending``, ``Succeeded``, ``Failed`` or already deleting are deleted without consulting
budgets; otherwise the PodDisruptionBudgets of the namespace whose (non-empty) selector matches the
pod decide: more than one is a 500; an unready pod passes when the budget's
``unhealthyPodEvictionPolicy`` is ``AlwaysAllow`` or ``currentHealthy >= desiredHealthy > 0``; a
budget whose ``status.observedGeneration`` lags its generation, or whose ``disruptionsAllowed`` is
0, refuses with `TooManyRequestsError` (429, "Cannot evict pod as it would violate the pod's
disruption budget."); a negative one is 403. An eviction that passes decrements
``disruptionsAllowed`` and records the pod in ``disruptedPods`` (a PDB status write), adds the
``DisruptionTarget`` condition to the pod, then deletes it gracefully. Nothing recomputes PDB
status: tests write it through ``patch_status``, the disruption controller's job.

**Lists** are sorted by namespace and name and carry the current resourceVersion. *limit* pages
through a snapshot taken by the first page (a `GoneError` once `compact` dropped it). Label
selectors and field selectors (`mcm.testing.selectors`; any dotted field path) filter lists and
watches. A *resource_version* of ``None``, ``""`` or ``"0"`` reads the latest state; an exact one is
"not older than", and one newer than the server's is a 504 ("Too large resource version").

**Watches** (`FakeWatchStream`): with no *resource_version* (or ``"0"``) a watch first sends
``ADDED`` for every matching object; with an exact one it replays every event after it from a
bounded per-resource history (*history_limit*), then continues live. Older than the retained
history, or than the last `compact`, the stream raises `GoneError` (the real server sends an
``ERROR`` event with ``410 Expired``). Events are the full objects, in resourceVersion order. With a
selector, an object that stops matching is a ``DELETED`` event for that watcher and one that starts
matching is ``ADDED``, as the real watch cache does. ``BOOKMARK`` events are sent only when a test
calls `send_bookmark`. *timeout_seconds* ends a stream normally and *read_timeout* raises
`TransportError` after that long without an event; both are measured on the injected clock
(`mcm.clock.RealClock` by default), so a `mcm.clock.FakeClock` makes them fire only when stepped.

**Test controls.** `seed` pre-fills objects (status and all) without recording actions; `stored` and
`stored_objects` read without recording. Every request, reads included, is recorded as an `Action`
(`actions`, `actions_for`, `clear_actions`; ``actions_for(reads=False)`` drops get/list/watch as
sample-controller's ``filterInformerActions`` does). `fail_next` makes the next matching requests
raise a given error. `drop_watches` breaks open streams (`TransportError`), `expire_watches` ends
them with ``410`` (`GoneError`), `silence_watches` lets them go dead (only *read_timeout* notices),
`compact` forgets history, and `create_drop_watch` / `update_drop_watch` / `patch_drop_watch` /
`delete_drop_watch` change state (and history: a watch started later from an older resourceVersion
does replay them) but "forget" to tell the open watches, like client-go's ``*DropWatch``.
`wait_for_watchers` lets a threaded test wait until a component has its watch open instead of
sleeping.

**Known lies.** No admission, defaulting (beyond the status rules above) or schema validation; names
are not validated; namespaces need not exist and never finish terminating; no garbage collector;
field selectors accept any path; strategic merge patch is approximated (`mcm.testing.patching`) and
refused for custom resources (415), as on the real server. When in doubt, test against a real API
server (``mcm.testing.envtest``).

Everything handed out is the caller's own deep copy. The server is thread-safe: one lock orders
every write, so concurrent writers produce one total order that every watcher sees. Durations are
float seconds.
"""

from __future__ import annotations

import base64
import binascii
import builtins
import collections
import datetime
import enum
import json
import logging
import secrets
import threading
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

import attrs

from mcm.api.meta import ObjectKey, format_time, parse_time, thaw
from mcm.clock import Clock, RealClock, utcnow
from mcm.errors import (
    AlreadyExistsError,
    ApiError,
    BadRequestError,
    ConflictError,
    ForbiddenError,
    GoneError,
    InvalidError,
    MCMError,
    NotFoundError,
    ServerError,
    TooManyRequestsError,
)
from mcm.kube.protocol import JSON, EventType, ObjectList, PatchType, Preconditions, WatchEvent
from mcm.kube.resources import (
    CUSTOM_RESOURCE_DEFINITIONS,
    MACHINE_DEPLOYMENTS,
    MACHINE_SETS,
    MACHINES,
    NAMESPACES,
    NODES,
    PERSISTENT_VOLUME_CLAIMS,
    PERSISTENT_VOLUMES,
    POD_DISRUPTION_BUDGETS,
    PODS,
    VOLUME_ATTACHMENTS,
    Resource,
)
from mcm.testing.patching import MalformedPatchError, PatchError, apply_patch
from mcm.testing.selectors import FieldSelector, LabelSelector, SelectorError
from mcm.testing.watch_streams import FakeWatchStream

logger = logging.getLogger(__name__)

DEFAULT_STATUS_SUBRESOURCES: frozenset[str] = frozenset(
    {
        MACHINES.group_resource,
        MACHINE_SETS.group_resource,
        MACHINE_DEPLOYMENTS.group_resource,
        NODES.group_resource,
        PODS.group_resource,
        POD_DISRUPTION_BUDGETS.group_resource,
        NAMESPACES.group_resource,
        PERSISTENT_VOLUMES.group_resource,
        PERSISTENT_VOLUME_CLAIMS.group_resource,
        VOLUME_ATTACHMENTS.group_resource,
        CUSTOM_RESOURCE_DEFINITIONS.group_resource,
        "services",
        "deployments.apps",
        "replicasets.apps",
        "statefulsets.apps",
        "daemonsets.apps",
        "jobs.batch",
    }
)
"""Resources (``plural.group``) whose ``status`` is a subresource (MCM's CRDs, kube-apiserver)."""

BUILTIN_GROUPS: frozenset[str] = frozenset(
    {
        "",
        "admissionregistration.k8s.io",
        "apiextensions.k8s.io",
        "apiregistration.k8s.io",
        "apps",
        "authentication.k8s.io",
        "authorization.k8s.io",
        "autoscaling",
        "batch",
        "certificates.k8s.io",
        "coordination.k8s.io",
        "discovery.k8s.io",
        "events.k8s.io",
        "flowcontrol.apiserver.k8s.io",
        "networking.k8s.io",
        "node.k8s.io",
        "policy",
        "rbac.authorization.k8s.io",
        "resource.k8s.io",
        "scheduling.k8s.io",
        "storage.k8s.io",
    }
)
"""API groups kube-apiserver serves itself; any other group is a custom resource (no strategic
merge patch, no unconditional update)."""

DEFAULT_HISTORY_LIMIT = 10_000
"""Events kept per resource for watches from an older resourceVersion; anything older is Gone."""

DEFAULT_POD_GRACE_PERIOD = 30
"""``spec.terminationGracePeriodSeconds`` when a pod does not say (the API's default)."""

MAX_DISRUPTED_PODS = 2000
"""Eviction refuses (403) when a PDB's ``disruptedPods`` is larger (``MaxDisruptedPodSize``)."""

_GENERATE_NAME_CHARS = (
    "bcdfghjklmnpqrstvwxz2456789"  # apimachinery's rand.String alphabet: no vowels
)
_GENERATE_NAME_SUFFIX = 5
_GENERATE_NAME_ATTEMPTS = (
    8  # the apiserver retries a generated name that collides (RetryGenerateName)
)
_SERVER_METADATA = (
    "name",
    "namespace",
    "uid",
    "creationTimestamp",
    "deletionTimestamp",
    "deletionGracePeriodSeconds",
    "generation",
    "resourceVersion",
)
_ORPHAN = "orphan"
_FOREGROUND = "foregroundDeletion"
_PROPAGATION_POLICIES = ("Orphan", "Foreground", "Background")


class Verb(enum.StrEnum):
    """What a recorded `Action` did; status writes are ``update``/``patch`` of ``status``."""

    GET = "get"
    LIST = "list"
    WATCH = "watch"
    CREATE = "create"
    UPDATE = "update"
    PATCH = "patch"
    DELETE = "delete"
    EVICT = "evict"


READ_VERBS: frozenset[Verb] = frozenset({Verb.GET, Verb.LIST, Verb.WATCH})


@attrs.frozen(kw_only=True)
class Action:
    """One request the fake API server received, in the order received."""

    verb: Verb
    resource: Resource
    namespace: str = ""
    name: str = ""
    """The object's name; ``""`` for list and watch, and for a create that used ``generateName``."""
    subresource: str = ""
    """``status`` for status writes, ``eviction`` for evictions."""
    body: JSON | None = None
    """A copy of the body of a create or update."""
    patch: JSON | list[JSON] | None = None
    """A copy of the patch of a patch."""
    patch_type: PatchType | None = None
    options: Mapping[str, Any] = attrs.field(factory=dict)
    """The other arguments given: selectors, resource_version, preconditions, grace period ..."""

    @property
    def is_read(self) -> bool:
        return self.verb in READ_VERBS

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.namespace, self.name)


@attrs.frozen
class _Event:
    """One entry of a resource's history: the state after write *rv*, and the state before it."""

    rv: int
    type: EventType
    object: JSON  # never mutated; DELETED: the last state, carrying the delete's resourceVersion
    previous: JSON | None


@attrs.frozen
class _Filter:
    """What a list or watch asked to see."""

    namespace: str | None
    labels: LabelSelector
    fields: FieldSelector

    def matches(self, obj: Mapping[str, Any]) -> bool:
        meta = obj.get("metadata") or {}
        if self.namespace is not None and meta.get("namespace", "") != self.namespace:
            return False
        return self.labels.matches(meta.get("labels")) and self.fields.matches(obj)


@attrs.define(eq=False)
class _Watch:
    """An open watch: its stream and what it asked to see."""

    stream: FakeWatchStream
    filter: _Filter
    bookmarks: bool
    after: int  # only events with a larger resourceVersion are for this watch

    def convert(self, event: _Event) -> WatchEvent | None:
        """What this watcher sees of *event*, if anything (``cacheWatcher.convertToWatchEvent``)."""
        if event.rv <= self.after:
            return None
        previous = event.previous
        now_matches = event.type is not EventType.DELETED and self.filter.matches(event.object)
        matched_before = previous is not None and self.filter.matches(previous)
        if now_matches:
            kind = EventType.MODIFIED if matched_before else EventType.ADDED
            return WatchEvent(kind, _copy(event.object))
        if matched_before and previous is not None:
            last = _copy(previous)
            last["metadata"]["resourceVersion"] = str(event.rv)
            return WatchEvent(EventType.DELETED, last)
        return None


@attrs.define(eq=False)
class _Table:
    """The storage of one resource."""

    objects: dict[tuple[str, str], JSON] = attrs.field(
        factory=dict
    )  # (namespace, name) → stored object
    history: collections.deque[_Event] = attrs.field(factory=collections.deque)
    floor: int = (
        0  # the oldest resourceVersion a watch may start from: every later event is in history
    )
    watches: list[_Watch] = attrs.field(factory=list)


@attrs.define(eq=False)
class _Failure:
    verb: Verb
    group_resource: str | None
    name: str | None
    subresource: str | None
    error: MCMError
    remaining: int

    def matches(self, verb: Verb, resource: Resource, name: str, subresource: str) -> bool:
        return (
            self.verb == verb
            and self.group_resource in (None, resource.group_resource)
            and self.name in (None, name)
            and self.subresource in (None, subresource)
        )


@attrs.frozen
class _Snapshot:
    """The full result of a paginated list, kept for its continue tokens."""

    id: str
    group_resource: str
    rv: int
    items: tuple[JSON, ...]


class FakeApiServer:
    """An in-memory `mcm.kube.protocol.Api`; see the module docstring for what it promises."""

    def __init__(
        self,
        *,
        clock: Clock | None = None,  # FakeClock in tests that exercise watch timeouts
        status_subresources: Iterable[Resource | str] | None = None,
        history_limit: int = DEFAULT_HISTORY_LIMIT,
    ) -> None:
        self._clock: Clock = clock if clock is not None else RealClock()
        subresources = (
            DEFAULT_STATUS_SUBRESOURCES if status_subresources is None else status_subresources
        )
        self._status_subresources = frozenset(
            r.group_resource if isinstance(r, Resource) else r for r in subresources
        )
        self._history_limit = history_limit
        self._lock = threading.RLock()
        self._watchers_changed = threading.Condition(self._lock)
        self._rv = 0
        self._tables: dict[str, _Table] = {}
        self._actions: builtins.list[Action] = []
        self._failures: builtins.list[_Failure] = []
        self._snapshots: dict[str, _Snapshot] = {}
        # group_resource → (apiVersion, kind), for bookmarks
        self._kinds: dict[str, tuple[str, str]] = {}

    # --- Api: reads -------------------------------------------------------------------------------

    def get(self, resource: Resource, name: str, *, namespace: str | None = None) -> JSON:
        namespace = _require_namespace(resource, namespace)
        with self._lock:
            self._request(Verb.GET, resource, namespace=namespace, name=name)
            return _copy(self._existing(resource, namespace, name))

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
    ) -> ObjectList:
        with self._lock:
            self._request(
                Verb.LIST,
                resource,
                namespace=namespace,
                options=_options(
                    label_selector=label_selector,
                    field_selector=field_selector,
                    resource_version=resource_version,
                    limit=limit,
                    continue_token=continue_token,
                ),
            )
            selection = self._filter(resource, namespace, label_selector, field_selector)
            requested = self._parse_resource_version(resource_version)
            if requested is not None and requested > self._rv:
                raise _too_large(requested, self._rv)
            if continue_token:
                snapshot, offset = self._resume(resource, continue_token)
            else:
                items = tuple(
                    obj
                    for _, obj in sorted(self._table(resource).objects.items())
                    if selection.matches(obj)
                )
                snapshot = _Snapshot(uuid.uuid4().hex, resource.group_resource, self._rv, items)
                offset = 0
            end = len(snapshot.items)
            token = ""
            if limit is not None and limit > 0 and offset + limit < end:
                end = offset + limit
                self._snapshots[snapshot.id] = snapshot
                token = _encode_token(snapshot.id, end)
            return ObjectList(
                items=[_copy(obj) for obj in snapshot.items[offset:end]],
                resource_version=str(snapshot.rv),
                continue_token=token,
            )

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
    ) -> FakeWatchStream:
        with self._lock:
            self._request(
                Verb.WATCH,
                resource,
                namespace=namespace,
                options=_options(
                    label_selector=label_selector,
                    field_selector=field_selector,
                    resource_version=resource_version,
                    timeout_seconds=timeout_seconds,
                    allow_watch_bookmarks=allow_watch_bookmarks,
                    read_timeout=read_timeout,
                ),
            )
            selection = self._filter(resource, namespace, label_selector, field_selector)
            start = self._parse_resource_version(resource_version)
            stream = FakeWatchStream(
                clock=self._clock,
                timeout_seconds=timeout_seconds,
                read_timeout=read_timeout,
                on_end=self._forget_stream,
            )
            watch = _Watch(
                stream, selection, allow_watch_bookmarks, after=self._rv if start is None else start
            )
            table = self._table(resource)
            if start is None:
                for _, obj in sorted(table.objects.items()):
                    if selection.matches(obj):
                        watch.stream.deliver(WatchEvent(EventType.ADDED, _copy(obj)))
            elif start < table.floor:
                watch.stream.end_with(
                    _expired(f"too old resource version: {start} ({table.floor})")
                )
                return watch.stream
            else:
                for event in table.history:
                    converted = watch.convert(event)
                    if converted is not None:
                        watch.stream.deliver(converted)
                watch.after = max(start, self._rv)
            table.watches.append(watch)
            self._watchers_changed.notify_all()
            return watch.stream

    # --- Api: writes ------------------------------------------------------------------------------

    def create(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON:
        return self._create(resource, body, namespace, record=True, notify=True)

    def update(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        return self._update(resource, body, namespace, subresource or "", record=True, notify=True)

    def update_status(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON:
        return self._update(resource, body, namespace, "status", record=True, notify=True)

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
        return self._patch(
            resource,
            name,
            patch,
            namespace=namespace,
            patch_type=patch_type,
            subresource=subresource or "",
            record=True,
            notify=True,
        )

    def patch_status(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
    ) -> JSON:
        return self._patch(
            resource,
            name,
            patch,
            namespace=namespace,
            patch_type=patch_type,
            subresource="status",
            record=True,
            notify=True,
        )

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
        return self._delete(
            resource,
            name,
            namespace=namespace,
            preconditions=preconditions,
            propagation_policy=propagation_policy,
            grace_period_seconds=grace_period_seconds,
            record=True,
            notify=True,
        )

    def evict(
        self,
        name: str,
        *,
        namespace: str,
        grace_period_seconds: int | None = None,
        preconditions: Preconditions | None = None,
    ) -> None:
        namespace = _require_namespace(PODS, namespace)
        with self._lock:
            self._request(
                Verb.EVICT,
                PODS,
                namespace=namespace,
                name=name,
                subresource="eviction",
                options=_options(
                    grace_period_seconds=grace_period_seconds, preconditions=preconditions
                ),
            )
            pods = self._table(PODS)
            pod = self._existing(PODS, namespace, name)
            _check_preconditions(PODS, name, pod, preconditions)
            if not _can_ignore_budgets(pod):
                budgets = self._budgets_for(pod, namespace)
                if len(budgets) > 1:
                    raise ServerError(
                        "Internal error occurred: This pod has more than one PodDisruptionBudget, "
                        "which the eviction subresource does not support.",
                        status=500,
                        reason="InternalError",
                    )
                if budgets and not _unready_pod_may_go(pod, budgets[0]):
                    self._take_disruption(budgets[0], name)
            key = (namespace, name)
            marked = _with_condition(
                pod,
                {
                    "type": "DisruptionTarget",
                    "status": "True",
                    "reason": "EvictionByEvictionAPI",
                    "message": "Eviction API: evicting",
                    "lastTransitionTime": self._timestamp(),
                },
            )
            current = self._store(pods, key, pod, marked, notify=True)
            self._delete_stored(
                PODS,
                pods,
                key,
                current,
                propagation_policy=None,
                grace_period_seconds=grace_period_seconds,
                notify=True,
            )

    # --- test controls: state ---------------------------------------------------------------------

    def seed(self, resource: Resource, *objects: Mapping[str, Any]) -> builtins.list[JSON]:
        """Store *objects* as given (status, finalizers, deletionTimestamp ...); record no action.

        Missing ``uid``, ``creationTimestamp`` and ``generation`` are filled in; ``resourceVersion``
        is always the server's. An object that exists is replaced (a ``MODIFIED`` event), keeping
        its uid unless the new one names another. Returns the stored objects.
        """
        stored: builtins.list[JSON] = []
        with self._lock:
            table = self._table(resource)
            for body in objects:
                obj: JSON = _copy(body)
                meta = _metadata(obj)
                name = meta.get("name") or ""
                if not name and meta.get("generateName"):
                    name = self._generate_name(
                        table, meta.get("namespace") or "", meta["generateName"]
                    )
                if not name:
                    raise ValueError("seeded objects need metadata.name or metadata.generateName")
                namespace = meta.get("namespace") or ""
                if resource.namespaced and not namespace:
                    raise ValueError(
                        f"seeded {resource.group_resource} {name!r} needs metadata.namespace"
                    )
                if not resource.namespaced:
                    namespace = ""
                    meta.pop("namespace", None)
                key = (namespace, name)
                old = table.objects.get(key)
                old_meta = old["metadata"] if old is not None else {}
                meta["name"] = name
                meta.setdefault("uid", old_meta.get("uid") or str(uuid.uuid4()))
                meta.setdefault(
                    "creationTimestamp", old_meta.get("creationTimestamp") or self._timestamp()
                )
                meta.setdefault("generation", old_meta.get("generation") or 1)
                obj.setdefault("apiVersion", resource.api_version)
                obj.setdefault("kind", resource.kind)
                stored.append(_copy(self._commit(table, key, obj, old, notify=True)))
        return stored

    def stored(self, resource: Resource, name: str, *, namespace: str | None = None) -> JSON | None:
        """The stored object, or None; a test's peek that records no action."""
        with self._lock:
            key = ((namespace or "") if resource.namespaced else "", name)
            obj = self._table(resource).objects.get(key)
            return None if obj is None else _copy(obj)

    def stored_objects(
        self, resource: Resource, *, namespace: str | None = None
    ) -> builtins.list[JSON]:
        """Every stored object of *resource* (in *namespace*, if given), sorted; not recorded."""
        with self._lock:
            return [
                _copy(obj)
                for (ns, _), obj in sorted(self._table(resource).objects.items())
                if namespace is None or not resource.namespaced or ns == namespace
            ]

    @property
    def resource_version(self) -> str:
        """The current global resourceVersion (that of the latest write)."""
        with self._lock:
            return str(self._rv)

    def create_drop_watch(
        self, resource: Resource, body: Mapping[str, Any], *, namespace: str | None = None
    ) -> JSON:
        """`create`, but open watches are not told (``AddDropWatch``); records no action."""
        return self._create(resource, body, namespace, record=False, notify=False)

    def update_drop_watch(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        *,
        namespace: str | None = None,
        subresource: str | None = None,
    ) -> JSON:
        """`update`, but open watches are not told (``ModifyDropWatch``); records no action."""
        return self._update(
            resource, body, namespace, subresource or "", record=False, notify=False
        )

    def patch_drop_watch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None = None,
        patch_type: PatchType = PatchType.MERGE,
        subresource: str | None = None,
    ) -> JSON:
        """`patch`, but open watches are not told; records no action."""
        return self._patch(
            resource,
            name,
            patch,
            namespace=namespace,
            patch_type=patch_type,
            subresource=subresource or "",
            record=False,
            notify=False,
        )

    def delete_drop_watch(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None = None,
        grace_period_seconds: int | None = None,
    ) -> JSON | None:
        """`delete`, but open watches are not told (``DeleteDropWatch``); records no action."""
        return self._delete(
            resource,
            name,
            namespace=namespace,
            preconditions=None,
            propagation_policy=None,
            grace_period_seconds=grace_period_seconds,
            record=False,
            notify=False,
        )

    # --- test controls: actions and failures ------------------------------------------------------

    @property
    def actions(self) -> builtins.list[Action]:
        """Every request so far, oldest first (a copy)."""
        with self._lock:
            return list(self._actions)

    def actions_for(
        self,
        verb: str | None = None,
        resource: Resource | None = None,
        *,
        subresource: str | None = None,
        reads: bool = True,
    ) -> builtins.list[Action]:
        """The recorded actions with this verb, resource and subresource.

        ``reads=False`` leaves out get, list and watch (``filterInformerActions``).
        """
        with self._lock:
            return [
                a
                for a in self._actions
                if (verb is None or a.verb == verb)
                and (resource is None or a.resource.group_resource == resource.group_resource)
                and (subresource is None or a.subresource == subresource)
                and (reads or not a.is_read)
            ]

    def clear_actions(self) -> None:
        with self._lock:
            self._actions.clear()

    def fail_next(
        self,
        verb: str,
        resource: Resource | None = None,
        *,
        error: MCMError,
        count: int = 1,
        name: str | None = None,
        subresource: str | None = None,
    ) -> None:
        """Make the next *count* requests matching *verb* (and *resource*, *name*, *subresource*, if
        given) raise *error* instead of running. They are still recorded as actions; a ``watch``
        fails at the call, not while iterating."""
        with self._lock:
            self._failures.append(
                _Failure(
                    Verb(verb),
                    resource.group_resource if resource is not None else None,
                    name,
                    subresource,
                    error,
                    count,
                )
            )

    # --- test controls: watches -------------------------------------------------------------------

    def drop_watches(self, resource: Resource | None = None) -> int:
        """Break every open watch (of *resource*): pending events are lost, readers get
        `TransportError`.

        This is client-go's ``FakeControllerSource.ResetWatch``: clients have to watch again.
        Returns how many streams were dropped.
        """
        return self._end_watches(resource, FakeWatchStream.disconnect)

    def expire_watches(self, resource: Resource | None = None) -> int:
        """End every open watch (of *resource*) with ``410 Expired``: readers get `GoneError`
        after the events already sent. Returns how many streams were ended."""
        return self._end_watches(
            resource,
            lambda stream: stream.end_with(
                _expired("The resourceVersion for the provided watch is too old.")
            ),
        )

    def silence_watches(self, resource: Resource | None = None) -> int:
        """Let every open watch (of *resource*) go dead without closing: nothing more is delivered,
        not even the server-side timeout; only the reader's *read_timeout* or ``close`` ends it."""
        return self._end_watches(resource, FakeWatchStream.silence)

    def send_bookmark(self, resource: Resource | None = None) -> int:
        """Send a ``BOOKMARK`` at the current resourceVersion to every open watch (of *resource*)
        that allowed bookmarks. Returns how many were sent."""
        sent = 0
        with self._lock:
            for group_resource, table in self._tables_for(resource):
                for watch in table.watches:
                    if watch.bookmarks:
                        api_version, kind = self._kinds.get(group_resource, ("", ""))
                        bookmark = {
                            "apiVersion": api_version,
                            "kind": kind,
                            "metadata": {"resourceVersion": str(self._rv)},
                        }
                        watch.stream.deliver(WatchEvent(EventType.BOOKMARK, bookmark))
                        sent += 1
        return sent

    def compact(self, resource: Resource | None = None) -> None:
        """Forget the event history (of *resource*) and every list snapshot, as etcd compaction
        does: a watch from an older resourceVersion or a stale continue token is `GoneError`."""
        with self._lock:
            for _, table in self._tables_for(resource):
                table.history.clear()
                table.floor = self._rv
            self._snapshots.clear()

    def watcher_count(self, resource: Resource | None = None) -> int:
        """How many live (not ended, not silenced) watches are open (on *resource*)."""
        with self._lock:
            return sum(len(table.watches) for _, table in self._tables_for(resource))

    def wait_for_watchers(
        self, resource: Resource | None, count: int, *, timeout: float = 5.0
    ) -> bool:
        """Block (in real time, at most *timeout*) until at least *count* live watches are open."""
        deadline = time.monotonic() + timeout
        with self._watchers_changed:
            while self.watcher_count(resource) < count:
                remaining = deadline - time.monotonic()
                if remaining <= 0:
                    return False
                self._watchers_changed.wait(remaining)
            return True

    # --- the verbs, with the knobs the test controls need -----------------------------------------

    def _create(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        namespace: str | None,
        *,
        record: bool,
        notify: bool,
    ) -> JSON:
        obj: JSON = _copy(body)
        meta = _metadata(obj)
        _require_namespace(resource, namespace or meta.get("namespace"))
        with self._lock:
            if record:
                self._request(
                    Verb.CREATE,
                    resource,
                    namespace=namespace or meta.get("namespace"),
                    name=meta.get("name") or "",
                    body=_copy(body),
                )
            namespace = self._body_namespace(resource, namespace, meta)
            _check_kind(resource, obj)
            if meta.get("resourceVersion"):
                raise ServerError(
                    "resourceVersion should not be set on objects to be created",
                    status=500,
                    reason="InternalError",
                )
            table = self._table(resource)
            name = meta.get("name") or ""
            if not name:
                if not meta.get("generateName"):
                    raise _invalid(
                        resource,
                        "",
                        "metadata.name",
                        "Required value: name or generateName is required",
                    )
                name = self._generate_name(table, namespace, meta["generateName"])
            if (namespace, name) in table.objects:
                raise AlreadyExistsError(
                    f'{resource.group_resource} "{name}" already exists',
                    status=409,
                    reason="AlreadyExists",
                    details=_details(resource, name),
                )
            for field in _SERVER_METADATA:
                meta.pop(field, None)
            meta.update(
                name=name, uid=str(uuid.uuid4()), creationTimestamp=self._timestamp(), generation=1
            )
            if namespace:
                meta["namespace"] = namespace
            obj.setdefault("apiVersion", resource.api_version)
            obj.setdefault("kind", resource.kind)
            self._reset_status_on_create(resource, obj)
            return _copy(self._commit(table, (namespace, name), obj, None, notify=notify))

    def _update(
        self,
        resource: Resource,
        body: Mapping[str, Any],
        namespace: str | None,
        subresource: str,
        *,
        record: bool,
        notify: bool,
    ) -> JSON:
        obj: JSON = _copy(body)
        meta = _metadata(obj)
        name = meta.get("name") or ""
        if not name:
            raise ValueError(f"update of {resource.group_resource}: body has no metadata.name")
        _require_namespace(resource, namespace or meta.get("namespace"))
        with self._lock:
            if record:
                self._request(
                    Verb.UPDATE,
                    resource,
                    namespace=namespace or meta.get("namespace"),
                    name=name,
                    subresource=subresource,
                    body=_copy(body),
                )
            namespace = self._body_namespace(resource, namespace, meta)
            self._check_subresource(resource, subresource)
            _check_kind(resource, obj)
            table = self._table(resource)
            old = self._existing(resource, namespace, name)
            requested = meta.get("resourceVersion")
            if not requested and resource.group not in BUILTIN_GROUPS:
                raise _invalid(
                    resource,
                    name,
                    "metadata.resourceVersion",
                    "Invalid value: 0x0: must be specified for an update",
                )
            if requested and requested != old["metadata"]["resourceVersion"]:
                raise _conflict(resource, name)
            _check_uid(resource, name, meta, old)
            new = self._next_state(resource, old, obj, status_only=subresource == "status")
            return _copy(self._write(table, (namespace, name), old, new, notify=notify))

    def _patch(
        self,
        resource: Resource,
        name: str,
        patch: Mapping[str, Any] | Sequence[Mapping[str, Any]],
        *,
        namespace: str | None,
        patch_type: PatchType,
        subresource: str,
        record: bool,
        notify: bool,
    ) -> JSON:
        namespace = _require_namespace(resource, namespace)
        with self._lock:
            if record:
                self._request(
                    Verb.PATCH,
                    resource,
                    namespace=namespace,
                    name=name,
                    subresource=subresource,
                    patch=thaw(patch),
                    patch_type=patch_type,
                )
            self._check_subresource(resource, subresource)
            table = self._table(resource)
            old = self._existing(resource, namespace, name)
            if patch_type is PatchType.STRATEGIC and resource.group not in BUILTIN_GROUPS:
                raise ApiError(
                    "the body of the request was in an unknown format - accepted media types "
                    f"include: {PatchType.JSON}, {PatchType.MERGE}, application/apply-patch+yaml",
                    status=415,
                    reason="UnsupportedMediaType",
                )
            try:
                patched = apply_patch(old, patch, patch_type)
            except MalformedPatchError as error:
                raise _bad_request(str(error)) from error
            except PatchError as error:
                raise InvalidError(
                    str(error), status=422, reason="Invalid", details=_details(resource, name)
                ) from error
            meta = _metadata(patched)
            if meta.get("name") != name:
                raise _bad_request(
                    f"the name of the object ({meta.get('name')}) does not match the name on "
                    f"the URL ({name})"
                )
            requested = meta.get("resourceVersion")
            if requested and requested != old["metadata"]["resourceVersion"]:
                raise _conflict(resource, name)
            _check_uid(resource, name, meta, old)
            new = self._next_state(resource, old, patched, status_only=subresource == "status")
            return _copy(self._write(table, (namespace, name), old, new, notify=notify))

    def _delete(
        self,
        resource: Resource,
        name: str,
        *,
        namespace: str | None,
        preconditions: Preconditions | None,
        propagation_policy: str | None,
        grace_period_seconds: int | None,
        record: bool,
        notify: bool,
    ) -> JSON | None:
        namespace = _require_namespace(resource, namespace)
        with self._lock:
            if record:
                self._request(
                    Verb.DELETE,
                    resource,
                    namespace=namespace,
                    name=name,
                    options=_options(
                        preconditions=preconditions,
                        propagation_policy=propagation_policy,
                        grace_period_seconds=grace_period_seconds,
                    ),
                )
            if propagation_policy is not None and propagation_policy not in _PROPAGATION_POLICIES:
                raise _bad_request(f"invalid propagationPolicy {propagation_policy!r}")
            table = self._table(resource)
            old = self._existing(resource, namespace, name)
            _check_preconditions(resource, name, old, preconditions)
            result = self._delete_stored(
                resource,
                table,
                (namespace, name),
                old,
                propagation_policy=propagation_policy,
                grace_period_seconds=grace_period_seconds,
                notify=notify,
            )
            return None if result is None else _copy(result)

    # --- the semantics ----------------------------------------------------------------------------

    def _next_state(
        self, resource: Resource, old: JSON, candidate: JSON, *, status_only: bool
    ) -> JSON:
        """What an update or patch to *candidate* stores (the strategies' ``PrepareForUpdate``)."""
        if status_only:
            new: JSON = _copy(old)
            if "status" in candidate:
                new["status"] = candidate["status"]
            else:
                new.pop("status", None)
            return new
        new = candidate
        meta = _metadata(new)
        old_meta = old["metadata"]
        for field in _SERVER_METADATA:
            if field in old_meta:
                meta[field] = old_meta[field]
            else:
                meta.pop(field, None)
        new["apiVersion"] = new.get("apiVersion") or old.get("apiVersion")
        new["kind"] = new.get("kind") or old.get("kind")
        has_status = self._has_status(resource)
        if has_status:
            if "status" in old:
                new["status"] = old["status"]
            else:
                new.pop("status", None)
        if _spec(new, has_status) != _spec(old, has_status):
            meta["generation"] = int(old_meta.get("generation") or 0) + 1
        if old_meta.get("deletionTimestamp"):
            added = set(meta.get("finalizers") or ()) - set(old_meta.get("finalizers") or ())
            if added:
                raise _invalid(
                    resource,
                    meta["name"],
                    "metadata.finalizers",
                    f"Forbidden: no new finalizers can be added if the object is being deleted, "
                    f"found new finalizers {sorted(added)}",
                )
        return new

    def _write(
        self, table: _Table, key: tuple[str, str], old: JSON, new: JSON, *, notify: bool
    ) -> JSON:
        """Store an update or patch; emptying the finalizers of a deleting object deletes it."""
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        meta = new["metadata"]
        if (
            meta.get("deletionTimestamp")
            and not meta.get("finalizers")
            and not meta.get("deletionGracePeriodSeconds")
        ):
            self._commit_delete(table, key, old, notify=notify)
            return old
        return self._commit(table, key, new, old, notify=notify)

    def _store(
        self, table: _Table, key: tuple[str, str], old: JSON, new: JSON, *, notify: bool
    ) -> JSON:
        """Store *new* over *old* unless nothing changed; returns what is stored."""
        new["metadata"]["resourceVersion"] = old["metadata"]["resourceVersion"]
        if new == old:
            return old
        return self._commit(table, key, new, old, notify=notify)

    def _delete_stored(
        self,
        resource: Resource,
        table: _Table,
        key: tuple[str, str],
        old: JSON,
        *,
        propagation_policy: str | None,
        grace_period_seconds: int | None,
        notify: bool,
    ) -> JSON | None:
        """Delete (or start deleting) a stored object: ``BeforeDelete`` plus ``Store.Delete``."""
        old_meta = old["metadata"]
        graceful = resource.group_resource == PODS.group_resource
        finalizers = _gc_finalizers(old_meta.get("finalizers") or [], propagation_policy)
        if old_meta.get("deletionTimestamp"):
            pending = int(old_meta.get("deletionGracePeriodSeconds") or 0)
            if graceful and pending > 0:
                if grace_period_seconds is None or grace_period_seconds >= pending:
                    return old  # a graceful deletion is under way; only a shorter period changes it
                grace = max(grace_period_seconds, 0)
                started = parse_time(old_meta["deletionTimestamp"]) or utcnow(self._clock)
                new: JSON = _copy(old)
                new["metadata"]["deletionTimestamp"] = format_time(
                    started - datetime.timedelta(seconds=pending - grace)
                )
                new["metadata"]["deletionGracePeriodSeconds"] = grace
                current = self._store(table, key, old, new, notify=notify)
                if grace == 0 and not current["metadata"].get("finalizers"):
                    self._commit_delete(table, key, current, notify=notify)
                    return None
                return current
            if finalizers:
                new = _copy(old)
                new["metadata"]["finalizers"] = finalizers
                return self._store(table, key, old, new, notify=notify)
            self._commit_delete(table, key, old, notify=notify)
            return None
        if graceful:
            grace = _pod_grace_period(old, grace_period_seconds)
            new = _marked_deleting(old, self._timestamp(grace), grace, finalizers)
            current = self._store(table, key, old, new, notify=notify)
            if grace == 0 and not finalizers:
                self._commit_delete(table, key, current, notify=notify)
                return None
            return current
        if finalizers:
            new = _marked_deleting(old, self._timestamp(), 0, finalizers)
            return self._store(table, key, old, new, notify=notify)
        self._commit_delete(table, key, old, notify=notify)
        return None

    def _commit(
        self, table: _Table, key: tuple[str, str], new: JSON, old: JSON | None, *, notify: bool
    ) -> JSON:
        """Store *new* under the next resourceVersion; record and fan out its event."""
        self._rv += 1
        new["metadata"]["resourceVersion"] = str(self._rv)
        table.objects[key] = new
        kind = EventType.MODIFIED if old is not None else EventType.ADDED
        self._publish(table, _Event(self._rv, kind, new, old), notify=notify)
        return new

    def _commit_delete(
        self, table: _Table, key: tuple[str, str], old: JSON, *, notify: bool
    ) -> None:
        """Remove the object under the next resourceVersion; record and fan out ``DELETED``."""
        self._rv += 1
        gone: JSON = _copy(old)
        gone["metadata"]["resourceVersion"] = str(self._rv)
        del table.objects[key]
        self._publish(table, _Event(self._rv, EventType.DELETED, gone, old), notify=notify)

    def _publish(self, table: _Table, event: _Event, *, notify: bool) -> None:
        meta = event.object["metadata"]
        logger.debug(
            "fake API server: %s %s (rv %d)",
            event.type,
            ObjectKey(meta.get("namespace", ""), meta["name"]),
            event.rv,
        )
        if len(table.history) >= self._history_limit > 0:
            table.floor = table.history.popleft().rv
        if self._history_limit > 0:
            table.history.append(event)
        else:
            table.floor = self._rv
        if notify:
            for watch in table.watches:
                converted = watch.convert(event)
                if converted is not None:
                    watch.stream.deliver(converted)

    def _take_disruption(self, pdb: JSON, pod_name: str) -> None:
        """``checkAndDecrement``: refuse, or take one disruption from the budget."""
        meta = pdb["metadata"]
        status = pdb.get("status") or {}
        name = meta["name"]
        if int(status.get("observedGeneration") or 0) < int(meta.get("generation") or 0):
            raise _budget_refusal(
                f"The disruption budget {name} is still being processed by the server."
            )
        allowed = int(status.get("disruptionsAllowed") or 0)
        if allowed < 0:
            raise _budget_forbidden(name, "pdb disruptions allowed is negative")
        if len(status.get("disruptedPods") or {}) > MAX_DISRUPTED_PODS:
            raise _budget_forbidden(
                name,
                "DisruptedPods map too big - too many evictions not confirmed by PDB controller",
            )
        if allowed == 0:
            raise _budget_refusal(
                f"The disruption budget {name} needs {int(status.get('desiredHealthy') or 0)} "
                f"healthy pods and has {int(status.get('currentHealthy') or 0)} currently"
            )
        new: JSON = _copy(pdb)
        new_status = new.setdefault("status", {})
        new_status["disruptionsAllowed"] = allowed - 1
        disrupted = new_status.get("disruptedPods") or {}
        disrupted[pod_name] = self._timestamp()
        new_status["disruptedPods"] = disrupted
        if allowed == 1:
            new = _with_condition(
                new,
                {
                    "type": "DisruptionAllowed",
                    "status": "False",
                    "reason": "InsufficientPods",
                    "message": "",
                    "observedGeneration": int(status.get("observedGeneration") or 0),
                    "lastTransitionTime": self._timestamp(),
                },
            )
        table = self._table(POD_DISRUPTION_BUDGETS)
        self._store(table, (meta.get("namespace", ""), name), pdb, new, notify=True)

    def _budgets_for(self, pod: JSON, namespace: str) -> builtins.list[JSON]:
        """The PDBs of *namespace* whose non-empty selector matches the pod."""
        labels = pod["metadata"].get("labels") or {}
        budgets: builtins.list[JSON] = []
        for (ns, _), pdb in sorted(self._table(POD_DISRUPTION_BUDGETS).objects.items()):
            if ns != namespace:
                continue
            try:
                selector = LabelSelector.from_dict((pdb.get("spec") or {}).get("selector") or {})
            except SelectorError:
                continue
            if not selector.empty and selector.matches(labels):
                budgets.append(pdb)
        return budgets

    def _reset_status_on_create(self, resource: Resource, obj: JSON) -> None:
        """What each strategy's PrepareForCreate does to ``status``."""
        group_resource = resource.group_resource
        if group_resource == PODS.group_resource:
            obj["status"] = {"phase": "Pending"}
        elif group_resource == NAMESPACES.group_resource:
            obj["status"] = {"phase": "Active"}
        elif group_resource == POD_DISRUPTION_BUDGETS.group_resource:
            obj["status"] = {
                "disruptionsAllowed": 0,
                "currentHealthy": 0,
                "desiredHealthy": 0,
                "expectedPods": 0,
            }
        elif group_resource != NODES.group_resource and self._has_status(resource):
            obj.pop("status", None)

    # --- plumbing ---------------------------------------------------------------------------------

    def _request(
        self,
        verb: Verb,
        resource: Resource,
        *,
        namespace: str | None = None,
        name: str = "",
        subresource: str = "",
        body: JSON | None = None,
        patch: Any = None,
        patch_type: PatchType | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> None:
        """Record the request, then raise an injected failure if one matches."""
        self._actions.append(
            Action(
                verb=verb,
                resource=resource,
                namespace=(namespace or "") if resource.namespaced else "",
                name=name,
                subresource=subresource,
                body=body,
                patch=patch,
                patch_type=patch_type,
                options=dict(options or {}),
            )
        )
        for failure in self._failures:
            if failure.matches(verb, resource, name, subresource):
                failure.remaining -= 1
                if failure.remaining <= 0:
                    self._failures.remove(failure)
                raise failure.error

    def _table(self, resource: Resource) -> _Table:
        table = self._tables.get(resource.group_resource)
        if table is None:
            table = self._tables[resource.group_resource] = _Table()
        self._kinds.setdefault(resource.group_resource, (resource.api_version, resource.kind))
        return table

    def _tables_for(self, resource: Resource | None) -> builtins.list[tuple[str, _Table]]:
        if resource is None:
            return list(self._tables.items())
        return [(resource.group_resource, self._table(resource))]

    def _existing(self, resource: Resource, namespace: str, name: str) -> JSON:
        obj = self._table(resource).objects.get((namespace, name))
        if obj is None:
            raise NotFoundError(
                f'{resource.group_resource} "{name}" not found',
                status=404,
                reason="NotFound",
                details=_details(resource, name),
            )
        return obj

    def _has_status(self, resource: Resource) -> bool:
        return resource.group_resource in self._status_subresources

    def _check_subresource(self, resource: Resource, subresource: str) -> None:
        if subresource == "" or (subresource == "status" and self._has_status(resource)):
            return
        raise NotFoundError(
            "the server could not find the requested resource "
            f"({resource.group_resource}/{subresource})",
            status=404,
            reason="NotFound",
        )

    def _body_namespace(self, resource: Resource, namespace: str | None, meta: JSON) -> str:
        """The namespace of a create or update: the argument, else the body's; they must agree."""
        if not resource.namespaced:
            meta.pop("namespace", None)
            return ""
        body_namespace = meta.get("namespace") or ""
        if namespace and body_namespace and namespace != body_namespace:
            raise _bad_request(
                "the namespace of the provided object does not match the namespace sent on the "
                "request"
            )
        resolved = _require_namespace(resource, namespace or body_namespace)
        meta["namespace"] = resolved
        return resolved

    def _filter(
        self,
        resource: Resource,
        namespace: str | None,
        label_selector: str | None,
        field_selector: str | None,
    ) -> _Filter:
        try:
            labels = LabelSelector.parse(label_selector)
            fields = FieldSelector.parse(field_selector)
        except SelectorError as error:
            raise _bad_request(f"invalid selector: {error}") from error
        return _Filter((namespace or None) if resource.namespaced else None, labels, fields)

    def _forget_stream(self, stream: FakeWatchStream) -> None:
        with self._lock:
            for table in self._tables.values():
                table.watches = [w for w in table.watches if w.stream is not stream]
            self._watchers_changed.notify_all()

    def _end_watches(
        self, resource: Resource | None, how: Callable[[FakeWatchStream], None]
    ) -> int:
        with self._lock:
            ended = 0
            for _, table in self._tables_for(resource):
                for watch in table.watches:
                    how(watch.stream)
                    ended += 1
                table.watches = []
            self._watchers_changed.notify_all()
            return ended

    def _parse_resource_version(self, value: str | None) -> int | None:
        """None for "the latest" (``None``, ``""``, ``"0"``), else the exact version asked for."""
        if not value or value == "0":
            return None
        try:
            parsed = int(value)
        except ValueError:
            parsed = 0
        if parsed <= 0:
            raise _bad_request(f"invalid resourceVersion {value!r}")
        return parsed

    def _resume(self, resource: Resource, token: str) -> tuple[_Snapshot, int]:
        try:
            decoded = json.loads(base64.urlsafe_b64decode(token.encode()))
            snapshot_id, offset = str(decoded["snapshot"]), int(decoded["offset"])
        except (ValueError, KeyError, TypeError, binascii.Error) as error:
            raise _bad_request(f"invalid continue token {token!r}") from error
        snapshot = self._snapshots.get(snapshot_id)
        if snapshot is None:
            raise _expired(
                "The provided continue parameter is too old to display a consistent list result. "
                "You can start a new list without the continue parameter."
            )
        if snapshot.group_resource != resource.group_resource:
            raise _bad_request("the continue token belongs to another resource")
        return snapshot, offset

    def _generate_name(self, table: _Table, namespace: str, prefix: str) -> str:
        for _ in range(_GENERATE_NAME_ATTEMPTS):
            suffix = "".join(
                secrets.choice(_GENERATE_NAME_CHARS) for _ in range(_GENERATE_NAME_SUFFIX)
            )
            name = prefix + suffix
            if (namespace, name) not in table.objects:
                return name
        raise AlreadyExistsError(
            f"could not generate a unique name from {prefix!r}", status=409, reason="AlreadyExists"
        )

    def _timestamp(self, offset: float = 0.0) -> str:
        return format_time(utcnow(self._clock) + datetime.timedelta(seconds=offset))


# --- pure helpers ---------------------------------------------------------------------------------


def _copy(obj: Mapping[str, Any]) -> JSON:
    """A deep copy of a JSON object, for handing out or for building the next state."""
    copied: JSON = thaw(obj)
    return copied


def _options(**values: Any) -> dict[str, Any]:
    return {k: v for k, v in values.items() if v is not None}


def _require_namespace(resource: Resource, namespace: str | None) -> str:
    """The namespace of a single-object request; like the real client, a missing one for a
    namespaced resource is the caller's bug (`ValueError`), not a request."""
    if not resource.namespaced:
        return ""
    if not namespace:
        raise ValueError(f"{resource.group_resource} is namespaced: a namespace is required")
    return namespace


def _metadata(obj: JSON) -> JSON:
    meta = obj.get("metadata")
    if not isinstance(meta, dict):
        meta = obj["metadata"] = {}
    return meta


def _spec(obj: Mapping[str, Any], has_status: bool) -> dict[str, Any]:
    """Everything the generation rule counts as spec."""
    skip = {"apiVersion", "kind", "metadata"} | ({"status"} if has_status else set())
    return {k: v for k, v in obj.items() if k not in skip}


def _gc_finalizers(finalizers: Sequence[str], policy: str | None) -> list[str]:
    """The finalizers after a delete with *policy* (``deletionFinalizersForGarbageCollection``)."""
    result = list(finalizers)
    if policy == "Orphan":
        result = [f for f in result if f != _FOREGROUND]
        if _ORPHAN not in result:
            result.append(_ORPHAN)
    elif policy == "Foreground":
        result = [f for f in result if f != _ORPHAN]
        if _FOREGROUND not in result:
            result.append(_FOREGROUND)
    elif policy == "Background":
        result = [f for f in result if f not in (_ORPHAN, _FOREGROUND)]
    return result


def _marked_deleting(old: JSON, timestamp: str, grace: int, finalizers: list[str]) -> JSON:
    new: JSON = _copy(old)
    meta = new["metadata"]
    meta["deletionTimestamp"] = timestamp
    meta["deletionGracePeriodSeconds"] = grace
    if finalizers:
        meta["finalizers"] = finalizers
    else:
        meta.pop("finalizers", None)
    if int(meta.get("generation") or 0) > 0:
        meta["generation"] = int(meta["generation"]) + 1
    return new


def _pod_grace_period(pod: JSON, requested: int | None) -> int:
    """The pod strategy's ``CheckGracefulDelete``."""
    spec = pod.get("spec") or {}
    if requested is not None:
        period = requested
    else:
        configured = spec.get("terminationGracePeriodSeconds")
        period = DEFAULT_POD_GRACE_PERIOD if configured is None else int(configured)
    if not spec.get("nodeName"):
        period = 0
    if (pod.get("status") or {}).get("phase") in ("Succeeded", "Failed"):
        period = 0
    return max(period, 0)


def _can_ignore_budgets(pod: JSON) -> bool:
    phase = (pod.get("status") or {}).get("phase")
    return phase in ("Pending", "Succeeded", "Failed") or bool(
        pod["metadata"].get("deletionTimestamp")
    )


def _pod_ready(pod: JSON) -> bool:
    conditions = (pod.get("status") or {}).get("conditions") or ()
    return any(c.get("type") == "Ready" and c.get("status") == "True" for c in conditions)


def _unready_pod_may_go(pod: JSON, pdb: JSON) -> bool:
    """An unready pod is evicted without touching the budget under these conditions."""
    if _pod_ready(pod):
        return False
    policy = (pdb.get("spec") or {}).get("unhealthyPodEvictionPolicy")
    if policy == "AlwaysAllow":
        return True
    status = pdb.get("status") or {}
    desired = int(status.get("desiredHealthy") or 0)
    return (
        policy in (None, "IfHealthyBudget")
        and int(status.get("currentHealthy") or 0) >= desired > 0
    )


def _with_condition(obj: JSON, condition: JSON) -> JSON:
    """A copy of *obj* with *condition* set in ``status.conditions`` (replacing one of its type).

    An existing condition with the same status keeps its ``lastTransitionTime``."""
    new: JSON = _copy(obj)
    status = new.setdefault("status", {})
    conditions = list(status.get("conditions") or [])
    for index, existing in enumerate(conditions):
        if existing.get("type") == condition["type"]:
            if existing.get("status") == condition["status"] and "lastTransitionTime" in existing:
                condition = {**condition, "lastTransitionTime": existing["lastTransitionTime"]}
            conditions[index] = condition
            break
    else:
        conditions.append(condition)
    status["conditions"] = conditions
    return new


def _check_kind(resource: Resource, obj: JSON) -> None:
    kind = obj.get("kind")
    if kind and kind != resource.kind:
        raise _bad_request(
            f"the kind in the body ({kind}) does not match {resource.group_resource} "
            f"({resource.kind})"
        )


def _check_uid(resource: Resource, name: str, meta: Mapping[str, Any], old: JSON) -> None:
    uid = meta.get("uid")
    stored = old["metadata"].get("uid")
    if uid and uid != stored:
        raise _conflict(
            resource,
            name,
            f"Precondition failed: UID in precondition: {uid}, UID in object meta: {stored}",
        )


def _check_preconditions(
    resource: Resource, name: str, obj: JSON, preconditions: Preconditions | None
) -> None:
    if preconditions is None:
        return
    meta = obj["metadata"]
    if preconditions.uid and preconditions.uid != meta.get("uid"):
        raise _conflict(
            resource,
            name,
            f"Precondition failed: UID in precondition: {preconditions.uid}, "
            f"UID in object meta: {meta.get('uid')}",
        )
    if preconditions.resource_version and preconditions.resource_version != meta.get(
        "resourceVersion"
    ):
        raise _conflict(
            resource,
            name,
            "Precondition failed: ResourceVersion in precondition: "
            f"{preconditions.resource_version}, "
            f"ResourceVersion in object meta: {meta.get('resourceVersion')}",
        )


def _details(resource: Resource, name: str) -> dict[str, Any]:
    return {"name": name, "group": resource.group, "kind": resource.plural}


def _conflict(resource: Resource, name: str, why: str | None = None) -> ConflictError:
    why = (
        why
        or "the object has been modified; please apply your changes to the latest version and try "
        "again"
    )
    return ConflictError(
        f'Operation cannot be fulfilled on {resource.group_resource} "{name}": {why}',
        status=409,
        reason="Conflict",
        details=_details(resource, name),
    )


def _invalid(resource: Resource, name: str, field: str, detail: str) -> InvalidError:
    return InvalidError(
        f'{resource.kind} "{name}" is invalid: {field}: {detail}',
        status=422,
        reason="Invalid",
        details={
            "name": name,
            "group": resource.group,
            "kind": resource.kind,
            "causes": [{"reason": "FieldValueInvalid", "message": detail, "field": field}],
        },
    )


def _bad_request(message: str) -> BadRequestError:
    return BadRequestError(message, status=400, reason="BadRequest")


def _expired(message: str) -> GoneError:
    return GoneError(message, status=410, reason="Expired")


def _budget_refusal(cause: str) -> TooManyRequestsError:
    return TooManyRequestsError(
        "Cannot evict pod as it would violate the pod's disruption budget.",
        status=429,
        reason="TooManyRequests",
        details={"causes": [{"reason": "DisruptionBudget", "message": cause}]},
    )


def _budget_forbidden(name: str, why: str) -> ForbiddenError:
    return ForbiddenError(
        f'poddisruptionbudgets.policy "{name}" is forbidden: {why}',
        status=403,
        reason="Forbidden",
        details={"name": name, "group": "policy", "kind": "poddisruptionbudgets"},
    )


def _too_large(requested: int, current: int) -> ServerError:
    cause = {"reason": "ResourceVersionTooLarge", "message": "Too large resource version"}
    return ServerError(
        f"Too large resource version: {requested}, current: {current}",
        status=504,
        reason="Timeout",
        details={"causes": [cause]},
    )


def _encode_token(snapshot_id: str, offset: int) -> str:
    return base64.urlsafe_b64encode(
        json.dumps({"snapshot": snapshot_id, "offset": offset}).encode()
    ).decode()
