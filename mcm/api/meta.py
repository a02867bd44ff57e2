"""Object metadata, keys and owner references, shared by every kind.

Also the two conversions every model relies on: `freeze` turns parsed JSON into read-only mappings
and tuples (so nothing handed out of a cache can be mutated), `thaw` turns it back into plain JSON.
Timestamps are aware UTC datetimes; `parse_time`/`format_time` speak Kubernetes' RFC 3339 form.
"""

from __future__ import annotations

import datetime
import types
from collections.abc import Mapping, Sequence
from typing import Any, Protocol

import attrs

FrozenJSON = Mapping[str, Any]
"""A JSON object after `freeze`: mappings are read-only, lists are tuples."""

EMPTY: Mapping[str, Any] = types.MappingProxyType({})


def freeze(value: Any) -> Any:
    """A deep read-only copy of parsed JSON: dicts become mapping proxies, lists tuples."""
    if isinstance(value, Mapping):
        return types.MappingProxyType({k: freeze(v) for k, v in value.items()})
    if isinstance(value, list | tuple):
        return tuple(freeze(v) for v in value)
    return value


def thaw(value: Any) -> Any:
    """Return plain, mutable JSON (dicts and lists) for anything `freeze` produced."""
    if isinstance(value, Mapping):
        return {k: thaw(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [thaw(v) for v in value]
    return value


def parse_time(value: Any) -> datetime.datetime | None:
    """Parse a Kubernetes timestamp (``2024-01-02T03:04:05Z``, fractions allowed), or None."""
    if not value or not isinstance(value, str):
        return None
    try:
        parsed = datetime.datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=datetime.UTC)
    return parsed


def format_time(value: datetime.datetime) -> str:
    """Format as Kubernetes' ``metav1.Time`` does: RFC 3339, UTC, whole seconds, ``Z``."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


@attrs.frozen(order=True)
class ObjectKey:
    """``namespace/name`` of an object; namespace is ``""`` for cluster-scoped objects."""

    namespace: str
    name: str

    def __str__(self) -> str:
        return f"{self.namespace}/{self.name}" if self.namespace else self.name

    @classmethod
    def parse(cls, key: str) -> ObjectKey:
        """The inverse of ``str()``: ``"ns/name"`` or ``"name"``."""
        namespace, _, name = key.rpartition("/")
        return cls(namespace, name)


@attrs.frozen(kw_only=True)
class OwnerReference:
    """``metadata.ownerReferences[]``."""

    api_version: str
    kind: str
    name: str
    uid: str
    controller: bool = False
    block_owner_deletion: bool = False

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> OwnerReference:
        return cls(
            api_version=raw.get("apiVersion", ""),
            kind=raw.get("kind", ""),
            name=raw.get("name", ""),
            uid=raw.get("uid", ""),
            controller=bool(raw.get("controller", False)),
            block_owner_deletion=bool(raw.get("blockOwnerDeletion", False)),
        )

    def to_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "apiVersion": self.api_version,
            "kind": self.kind,
            "name": self.name,
            "uid": self.uid,
        }
        if self.controller:
            out["controller"] = True
        if self.block_owner_deletion:
            out["blockOwnerDeletion"] = True
        return out


def _str_map(value: Any) -> Mapping[str, str]:
    if not isinstance(value, Mapping) or not value:
        return EMPTY
    return types.MappingProxyType({str(k): str(v) for k, v in value.items()})


@attrs.frozen(kw_only=True)
class ObjectMeta:
    """``metadata``: the fields controllers read. Everything else stays in the owning object's
    ``raw``."""

    name: str = ""
    namespace: str = ""
    generate_name: str = ""
    uid: str = ""
    resource_version: str = ""
    generation: int = 0
    creation_timestamp: datetime.datetime | None = None
    deletion_timestamp: datetime.datetime | None = None
    deletion_grace_period_seconds: int | None = None
    labels: Mapping[str, str] = EMPTY
    annotations: Mapping[str, str] = EMPTY
    finalizers: tuple[str, ...] = ()
    owner_references: tuple[OwnerReference, ...] = ()

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> ObjectMeta:
        raw = raw or {}
        grace = raw.get("deletionGracePeriodSeconds")
        return cls(
            name=raw.get("name") or "",
            namespace=raw.get("namespace") or "",
            generate_name=raw.get("generateName") or "",
            uid=raw.get("uid") or "",
            resource_version=raw.get("resourceVersion") or "",
            generation=int(raw.get("generation") or 0),
            creation_timestamp=parse_time(raw.get("creationTimestamp")),
            deletion_timestamp=parse_time(raw.get("deletionTimestamp")),
            deletion_grace_period_seconds=int(grace) if grace is not None else None,
            labels=_str_map(raw.get("labels")),
            annotations=_str_map(raw.get("annotations")),
            finalizers=tuple(str(f) for f in raw.get("finalizers") or ()),
            owner_references=tuple(
                OwnerReference.from_dict(o)
                for o in raw.get("ownerReferences") or ()
                if isinstance(o, Mapping)
            ),
        )

    @property
    def key(self) -> ObjectKey:
        return ObjectKey(self.namespace, self.name)

    @property
    def controller_ref(self) -> OwnerReference | None:
        """The owner reference with ``controller: true``, if any (``metav1.GetControllerOf``)."""
        for ref in self.owner_references:
            if ref.controller:
                return ref
        return None

    @property
    def deleting(self) -> bool:
        """True once deletion was requested (``deletionTimestamp`` set)."""
        return self.deletion_timestamp is not None


class KubeObject(Protocol):
    """What caches and listers need of a parsed object."""

    @property
    def metadata(self) -> ObjectMeta: ...

    @property
    def raw(self) -> FrozenJSON: ...


@attrs.frozen(kw_only=True)
class GenericObject:
    """Any object we parse no further than its metadata (Leases, Events, unknown kinds)."""

    metadata: ObjectMeta
    raw: FrozenJSON = attrs.field(default=EMPTY, repr=False, eq=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any]) -> GenericObject:
        return cls(metadata=ObjectMeta.from_dict(raw.get("metadata")), raw=freeze(raw))

    def to_dict(self) -> dict[str, Any]:
        result: dict[str, Any] = thaw(self.raw)
        return result


def label_selector_string(selector: Mapping[str, str] | Sequence[tuple[str, str]]) -> str:
    """``k1=v1,k2=v2``: an equality selector as the ``labelSelector`` query parameter wants it."""
    items = selector.items() if isinstance(selector, Mapping) else selector
    return ",".join(f"{k}={v}" for k, v in items)
