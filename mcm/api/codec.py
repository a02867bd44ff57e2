"""How models read and write JSON: declared fields, lenient decoders, a writer that keeps the rest.

A model is a frozen attrs class deriving from `Model`. Each field is declared with `field`, which
records the JSON key it lives under, a *decoder* and the default::

    provider_id: str = field("providerID", text, "")

`Model.from_dict` runs every decoder on ``raw.get(key)``. Decoders never raise: a value of the wrong
shape decodes to the field's default (a malformed object must not stop an informer), and whatever
was there stays untouched in ``raw``. Only top-level kinds (`KubeModel`) insist on one thing, a
``metadata`` object, and raise `ValueError` without it.

`Model.to_dict` starts from ``thaw(raw)`` and overlays only the fields whose value differs from what
``raw`` decodes to. So an object parsed and written back is the same JSON byte for byte (unknown
fields, odd but valid spellings, integer quantities and fractional timestamps included), and an
object changed with ``attrs.evolve`` keeps every field the model does not know. A changed field
equal to its default is removed (Go's ``omitempty``); anything else is encoded by type: enums to
their value, datetimes with `format_time`, models with their own ``to_dict``, tuples to lists,
mappings to dicts.

Parsing freezes the input once (`frozen`) and hands nested models sub-trees of that frozen tree, so
a model's ``raw`` shares structure with its parent's and costs nothing extra.
"""

from __future__ import annotations

import datetime
import enum
import types
from collections.abc import Callable, Mapping
from typing import Any, ClassVar, Self, TypeVar, cast

import attrs

from mcm.api.meta import (
    EMPTY,
    FrozenJSON,
    ObjectKey,
    ObjectMeta,
    OwnerReference,
    format_time,
    freeze,
    parse_time,
    thaw,
)

T = TypeVar("T")
M = TypeVar("M", bound="Model")
E = TypeVar("E", bound=enum.Enum)

IntOrString = int | str
"""Kubernetes' ``intstr.IntOrString``: ``3`` or ``"25%"``."""

Decoder = Callable[[Any], T]
"""``decode(json)``: whatever JSON sits under the key (None when absent) to the field's value."""
Encoder = Callable[[T, Any], Any]
"""``encode(value, previous)``; *previous* is the JSON found under the key in ``raw`` (or None)."""

_SPEC = "mcm.api.codec"


@attrs.frozen
class _FieldSpec:
    key: str
    decode: Callable[[Any], Any]
    encode: Callable[[Any, Any], Any] | None


def field(
    key: str,
    decode: Decoder[T],
    default: T,
    *,
    encode: Encoder[T] | None = None,
    secret: bool = False,
) -> T:
    """Declare a model field stored under JSON *key*. *default* must be immutable (it is shared).

    *secret* keeps the value out of ``repr``.
    """
    spec = _FieldSpec(key=key, decode=decode, encode=encode)
    return attrs.field(default=default, repr=not secret, metadata={_SPEC: spec})


_FIELDS: dict[type[Model], tuple[tuple[str, _FieldSpec, Any], ...]] = {}


def _fields(cls: type[Model]) -> tuple[tuple[str, _FieldSpec, Any], ...]:
    """(attribute, spec, default) of every declared field of *cls*; computed once per class."""
    found = _FIELDS.get(cls)
    if found is None:
        found = tuple(
            (a.name, a.metadata[_SPEC], a.default) for a in attrs.fields(cls) if _SPEC in a.metadata
        )
        _FIELDS[cls] = found
    return found


def frozen(raw: Any) -> FrozenJSON:
    """*raw* as frozen JSON: frozen mappings as they are, other mappings frozen, anything else
    (None, lists, scalars) the empty mapping."""
    if isinstance(raw, types.MappingProxyType):
        return cast("FrozenJSON", raw)
    if isinstance(raw, Mapping):
        return cast("FrozenJSON", freeze(raw))
    return EMPTY


@attrs.frozen(kw_only=True)
class Model:
    """A JSON object with declared fields. ``raw`` is the object as received, deep-frozen."""

    raw: FrozenJSON = attrs.field(default=EMPTY, repr=False, eq=False)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Self:
        """Parse leniently; anything but a mapping gives the all-defaults object."""
        return _decode(cls, frozen(raw))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON: ``raw`` with the changed fields written over it."""
        return _encode(self)


def _decode(cls: type[M], raw: FrozenJSON) -> M:
    kwargs = {name: spec.decode(raw.get(spec.key)) for name, spec, _ in _fields(cls)}
    return cls(raw=raw, **kwargs)


def _encode(model: Model) -> dict[str, Any]:
    raw = model.raw
    out: dict[str, Any] = thaw(raw)
    for name, spec, default in _fields(type(model)):
        value = getattr(model, name)
        previous = raw.get(spec.key)
        if spec.decode(previous) == value:
            continue
        if value == default:
            out.pop(spec.key, None)
        elif spec.encode is not None:
            out[spec.key] = spec.encode(value, previous)
        else:
            out[spec.key] = encode_value(value, previous)
    return out


def encode_value(value: Any, previous: Any = None) -> Any:
    """Plain JSON for a field value (see the module docstring); *previous*: the JSON it replaces."""
    if value is None or isinstance(value, bool | int | float):
        return value
    if isinstance(value, enum.Enum):
        return value.value
    if isinstance(value, str):
        return value
    if isinstance(value, datetime.datetime):
        return format_time(value)
    if isinstance(value, Model):
        return value.to_dict()
    if isinstance(value, ObjectMeta):
        return encode_metadata(value, previous)
    if isinstance(value, OwnerReference):
        return value.to_dict()
    if isinstance(value, Mapping):
        return {str(k): encode_value(v) for k, v in value.items()}
    if isinstance(value, tuple | list):
        return [encode_value(v) for v in value]
    raise TypeError(f"cannot encode {type(value).__name__} as JSON")


# ObjectMeta lives in meta.py without field declarations; this table is its JSON shape.
_METADATA_KEYS: tuple[tuple[str, str], ...] = (
    ("name", "name"),
    ("namespace", "namespace"),
    ("generate_name", "generateName"),
    ("uid", "uid"),
    ("resource_version", "resourceVersion"),
    ("generation", "generation"),
    ("creation_timestamp", "creationTimestamp"),
    ("deletion_timestamp", "deletionTimestamp"),
    ("deletion_grace_period_seconds", "deletionGracePeriodSeconds"),
    ("labels", "labels"),
    ("annotations", "annotations"),
    ("finalizers", "finalizers"),
    ("owner_references", "ownerReferences"),
)
_METADATA_DEFAULTS = ObjectMeta()


def encode_metadata(metadata: ObjectMeta, previous: Any = None) -> dict[str, Any]:
    """``metadata`` as JSON: *previous* (its source JSON, if any) with changed fields overlaid."""
    base = previous if isinstance(previous, Mapping) else EMPTY
    out: dict[str, Any] = thaw(base)
    before = ObjectMeta.from_dict(base)
    for name, key in _METADATA_KEYS:
        value = getattr(metadata, name)
        if value == getattr(before, name):
            continue
        if value == getattr(_METADATA_DEFAULTS, name):
            out.pop(key, None)
        else:
            out[key] = encode_value(value)
    return out


def object_meta(value: Any) -> ObjectMeta:
    """Decoder for ``metadata`` (of an object or a template)."""
    return ObjectMeta.from_dict(value if isinstance(value, Mapping) else None)


@attrs.frozen(kw_only=True)
class KubeModel(Model):
    """A top-level object: ``apiVersion``, ``kind`` (class constants) and ``metadata``."""

    API_VERSION: ClassVar[str]
    KIND: ClassVar[str]

    metadata: ObjectMeta = field("metadata", object_meta, _METADATA_DEFAULTS)

    @classmethod
    def from_dict(cls, raw: Mapping[str, Any] | None) -> Self:
        """Parse leniently; `ValueError` only if *raw* or its ``metadata`` is not a mapping."""
        metadata = raw.get("metadata") if isinstance(raw, Mapping) else None
        if metadata is None or not isinstance(metadata, Mapping):
            raise ValueError(f"{cls.__name__}: not an object with metadata")
        return _decode(cls, frozen(raw))

    def to_dict(self) -> dict[str, Any]:
        """Plain JSON; an object built in code (empty ``raw``) also gets ``apiVersion``/``kind``."""
        out = _encode(self)
        if not self.raw:
            out = {"apiVersion": self.API_VERSION, "kind": self.KIND, **out}
        return out

    @property
    def key(self) -> ObjectKey:
        """``namespace/name``, the key of caches and work queues."""
        return self.metadata.key


# Decoders. Each takes whatever JSON sits under a key (None when absent) and never raises.


def text(value: Any) -> str:
    """A string; anything else is ``""``."""
    return value if isinstance(value, str) else ""


def optional_text(value: Any) -> str | None:
    """A string, or None when absent or not a string (Go's ``*string``)."""
    return value if isinstance(value, str) else None


def integer(value: Any) -> int:
    """An integer (an integral float counts); anything else is 0."""
    result = optional_integer(value)
    return 0 if result is None else result


def optional_integer(value: Any) -> int | None:
    """An integer, or None (Go's ``*int32``)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return None


def boolean(value: Any) -> bool:
    """A JSON boolean; anything else is False."""
    return value if isinstance(value, bool) else False


def optional_boolean(value: Any) -> bool | None:
    """A JSON boolean, or None (Go's ``*bool``)."""
    return value if isinstance(value, bool) else None


def timestamp(value: Any) -> datetime.datetime | None:
    """A ``metav1.Time``/``MicroTime`` as an aware UTC datetime, or None."""
    return parse_time(value)


def int_or_string(value: Any) -> IntOrString | None:
    """``3`` or ``"25%"``; None when absent or of another type."""
    if isinstance(value, str):
        return value
    return optional_integer(value)


def string_map(value: Any) -> Mapping[str, str]:
    """A ``map[string]string``; non-string scalar values are stringified, nested values dropped."""
    if not isinstance(value, Mapping) or not value:
        return EMPTY
    return types.MappingProxyType(
        {
            str(k): v if isinstance(v, str) else str(v)
            for k, v in value.items()
            if isinstance(v, str | int | float) and not isinstance(v, bool)
        }
    )


def quantity_map(value: Any) -> Mapping[str, str]:
    """A ``ResourceList``: quantities as their string form (``2`` becomes ``"2"``)."""
    return string_map(value)


def json_object(value: Any) -> FrozenJSON:
    """An opaque JSON object (already frozen by the parse), or the empty mapping."""
    return frozen(value)


def strings(value: Any) -> tuple[str, ...]:
    """A list of strings; non-strings are dropped."""
    if not isinstance(value, list | tuple):
        return ()
    return tuple(v for v in value if isinstance(v, str))


def enum_value(cls: type[E]) -> Callable[[Any], E | None]:
    """A decoder for a string enum; unknown values and non-strings are None (``raw`` keeps them)."""
    members: dict[Any, E] = {m.value: m for m in cls}

    def decode(value: Any) -> E | None:
        return members.get(value) if isinstance(value, str) else None

    return decode


def models(cls: type[M]) -> Callable[[Any], tuple[M, ...]]:
    """A decoder for a list of objects; entries that are not objects are dropped."""

    def decode(value: Any) -> tuple[M, ...]:
        if not isinstance(value, list | tuple):
            return ()
        return tuple(cls.from_dict(v) for v in value if isinstance(v, Mapping))

    return decode


def optional_model(cls: type[M]) -> Callable[[Any], M | None]:
    """A decoder for a pointer-to-struct field: None unless the value is an object."""

    def decode(value: Any) -> M | None:
        return cls.from_dict(value) if isinstance(value, Mapping) else None

    return decode


def format_micro_time(value: datetime.datetime) -> str:
    """Format as ``metav1.MicroTime`` does: RFC 3339, UTC, six fractional digits, ``Z``."""
    return value.astimezone(datetime.UTC).strftime("%Y-%m-%dT%H:%M:%S.%fZ")


def encode_micro_time(value: datetime.datetime | None, _previous: Any) -> str | None:
    """Encoder for ``MicroTime`` fields (Lease renewals, Event times)."""
    return None if value is None else format_micro_time(value)
